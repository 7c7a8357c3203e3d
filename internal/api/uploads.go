package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/upload"
)

func (s *server) routeUploads(r *router) {
	r.handle("GET /v1/uploads/{digest}", s.getUpload, op{summary: "whether the server has an upload (404: send it with PUT)",
		response: jsonOf(v1.Upload{})})
	r.handle("PUT /v1/uploads/{digest}", s.putUpload, op{summary: "send a deploy's files as a gzipped tar stream, each under its client path; kept once its files match the digest",
		response: jsonOf(v1.Upload{})})
}

func (s *server) getUpload(w http.ResponseWriter, r *http.Request) {
	d := r.PathValue("digest")
	if err := upload.CheckDigest(d); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if !s.o.Uploads.Has(d) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no upload %s: send it with PUT /v1/uploads/%s", d, d))
		return
	}
	s.o.Uploads.Touch(d) // kept for its deploy, which comes next
	writeJSON(w, http.StatusOK, v1.Upload{Digest: d})
}

func (s *server) putUpload(w http.ResponseWriter, r *http.Request) {
	s.c.CollectUploads(r.Context()) // old unused uploads first: they may be what fills the disk
	if s.noRoom(w) {
		return
	}
	done, err := s.uploads.start()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, err)
		return
	}
	defer done()
	d := r.PathValue("digest")
	// gzip rarely grows what it packs: the limit of the files, and room for the headers
	limit := int64(upload.MaxSize + upload.MaxFiles*1024 + 1<<20)
	c, _ := callOf(r)
	quota := !isAdmin(r)
	if quota {
		left := s.uploads.left(c.who.Name)
		if left == 0 {
			w.Header().Set("Retry-After", "600")
			writeError(w, http.StatusTooManyRequests, fmt.Errorf("token %q sent %d MiB of uploads within the last hour, the most one token may: try again later, or deploy with --build local (an executable is smaller than its source's upload)", c.who.Name, uploadQuota>>20))
			return
		}
		limit = min(limit, left)
	}
	counted := &countingReader{r: http.MaxBytesReader(w, r.Body, limit)}
	info, err := s.o.Uploads.Put(d, counted)
	if quota {
		s.uploads.add(c.who.Name, counted.n)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) && quota && tooLarge.Limit < int64(upload.MaxSize+upload.MaxFiles*1024+1<<20):
		w.Header().Set("Retry-After", "600")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("this upload would take token %q over %d MiB of uploads within an hour, the most one token may: try again later", c.who.Name, uploadQuota>>20))
		return
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the upload is larger than %d MiB: list what the build does not need in .gitignore", upload.MaxSize>>20))
		return
	case errors.Is(err, upload.ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("upload kept", "digest", d, "files", info.Files, "bytes", info.Size)
	writeJSON(w, http.StatusCreated, v1.Upload{Digest: info.Digest, Files: info.Files, Bytes: info.Size})
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

package api

import (
	"errors"
	"fmt"
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
	d := r.PathValue("digest")
	// gzip rarely grows what it packs: the limit of the files, and room for the headers
	body := http.MaxBytesReader(w, r.Body, upload.MaxSize+upload.MaxFiles*1024+1<<20)
	info, err := s.o.Uploads.Put(d, body)
	var tooLarge *http.MaxBytesError
	switch {
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

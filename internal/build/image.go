package build

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ImageUser is the user an image's process runs as: 65532, "nonroot" in distroless.
const ImageUser = "65532"

// ImageOptions describe an OCI image of one static Go executable.
type ImageOptions struct {
	App string
	// Binary is the executable; it must be statically linked (CGO_ENABLED=0): the image
	// has no C library.
	Binary string
	// Version, Commit and Created (RFC 3339) become OCI labels; Created also the image's
	// creation time (empty: the Unix epoch, so that the same inputs give the same digest).
	Version, Commit, Created string
}

// Image assembles an OCI image with nothing but the executable at /app/APP, an
// /etc/passwd naming the non-root user it runs as, and a writable /tmp: no base image
// to pull, no shell, nothing else to patch.
func Image(o ImageOptions) (v1.Image, error) {
	arch, err := inspect(o.Binary)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the executable: %w", err)
	}
	created := time.Unix(0, 0).UTC()
	if o.Created != "" {
		if created, err = time.Parse(time.RFC3339, o.Created); err != nil {
			return nil, fmt.Errorf("build time %q: %w", o.Created, err)
		}
	}
	entry := "/app/" + o.App
	files, err := layerTar(created, []tarFile{
		{name: "app/", mode: 0o755, dir: true},
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + ImageUser + ":" + ImageUser + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:" + ImageUser + ":\n")},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: strings.TrimPrefix(entry, "/"), mode: 0o755, body: bin},
	})
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make the image layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, fmt.Errorf("add the image layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Config.Entrypoint = []string{entry}
	cf.Config.User = ImageUser + ":" + ImageUser
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/app", "TMPDIR=/tmp"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   o.App,
		"org.opencontainers.image.version": o.Version,
		"org.opencontainers.image.created": created.Format(time.RFC3339),
	}
	if o.Commit != "" {
		cf.Config.Labels["org.opencontainers.image.revision"] = o.Commit
	}
	cf.Created = v1.Time{Time: created}
	cf.History = []v1.History{{Created: v1.Time{Time: created}, CreatedBy: "tend build image", Comment: "the static executable " + entry}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("write the image config: %w", err)
	}
	return img, nil
}

type tarFile struct {
	name string
	mode int64
	dir  bool
	body []byte
}

// layerTar writes the files as a tar owned by root, with one fixed time, so that the
// layer's digest depends only on the content.
func layerTar(at time.Time, files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: at, Typeflag: tar.TypeReg, Size: int64(len(f.body)), Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// inspect returns the executable's architecture, refusing one that needs a dynamic
// loader: the image has none.
func inspect(bin string) (string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", fmt.Errorf("%s is not a Linux executable: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New(path.Base(bin) + " is dynamically linked (cgo?): build it with CGO_ENABLED=0 for an image without a C library")
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return "", fmt.Errorf("%s is built for %s: want amd64 or arm64", bin, f.Machine)
}

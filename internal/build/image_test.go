package build

import (
	"archive/tar"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tinyBinary builds a static program that prints its first argument.
func tinyBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"tiny \" + os.Args[1] + \"\\n\") }\n"), 0o644)
	cmd := exec.Command("go", "build", "-trimpath", "-o", "tiny", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "tiny")
}

func TestImageIsPushedAndPulledBackWithEntrypointUserAndLabels(t *testing.T) {
	bin := tinyBinary(t)
	opts := ImageOptions{App: "tiny", Binary: bin, Version: "v1.2.3", Commit: "abc123", Created: "2026-11-30T10:00:00Z"}
	img, err := Image(opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Image(opts)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("the same inputs gave two digests: %s %s", d1, d2)
	}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(reg.URL, "http://") + "/apps/tiny:v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if d, _ := pulled.Digest(); d != d1 {
		t.Fatalf("pulled digest %s, pushed %s", d, d1)
	}
	m, _ := pulled.Manifest()
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Fatalf("not an OCI image: %s, config %s", m.MediaType, m.Config.MediaType)
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/app/tiny" || c.User != "65532:65532" || cf.OS != "linux" || cf.Architecture == "" {
		t.Fatalf("config: entrypoint %q, user %q, %s/%s", c.Entrypoint, c.User, cf.OS, cf.Architecture)
	}
	for k, v := range map[string]string{"org.opencontainers.image.title": "tiny", "org.opencontainers.image.version": "v1.2.3",
		"org.opencontainers.image.revision": "abc123", "org.opencontainers.image.created": "2026-11-30T10:00:00Z"} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}

	// the layer holds the executable, which runs on its own, and a passwd naming the user
	layers, _ := pulled.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]*tar.Header{}
	var passwd string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		switch h.Name {
		case "etc/passwd":
			b, _ := io.ReadAll(tr)
			passwd = string(b)
		case "app/tiny":
			out := filepath.Join(t.TempDir(), "tiny")
			b, _ := io.ReadAll(tr)
			os.WriteFile(out, b, 0o755)
			got, err := exec.Command(out, "runs").Output()
			if err != nil || string(got) != "tiny runs\n" {
				t.Fatalf("the executable from the image: %q, %v", got, err)
			}
		}
	}
	if h := files["app/tiny"]; h == nil || h.Mode != 0o755 || h.Uid != 0 {
		t.Fatalf("app/tiny in the layer: %+v", h)
	}
	if h := files["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Fatalf("tmp/ in the layer: %+v", h)
	}
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Fatalf("/etc/passwd: %q", passwd)
	}

	// a tarball (docker save's format: its manifest is Docker's) reads back with the same
	// config and layer
	tarPath := filepath.Join(t.TempDir(), "tiny.tar")
	if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
		t.Fatal(err)
	}
	fromTar, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := img.ConfigName()
	c2, _ := fromTar.ConfigName()
	l1, _ := layers[0].Digest()
	tl, _ := fromTar.Layers()
	if len(tl) != 1 || c1 != c2 {
		t.Fatalf("tarball: config %s (want %s), %d layers", c2, c1, len(tl))
	}
	if l2, _ := tl[0].Digest(); l2 != l1 {
		t.Fatalf("tarball layer %s, want %s", l2, l1)
	}
}

func TestImageRefusesADynamicExecutable(t *testing.T) {
	sh, err := exec.LookPath("sh") // Debian's sh needs the C library's loader
	if err != nil {
		t.Fatal(err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	_, err = Image(ImageOptions{App: "sh", Binary: sh})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Image(ImageOptions{App: "x", Binary: "image_test.go"}); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Fatalf("a text file: err = %v", err)
	}
}

package e2e

import (
	"encoding/json"
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

// TestBuildImagePushesToARegistry: `tend build image` builds examples/hello into an
// image without Docker and pushes it to a registry (go-containerregistry's, in the
// test, on loopback), from which it pulls back with its entrypoint, user and labels.
func TestBuildImagePushesToARegistry(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	dir := t.TempDir()
	spec := writeSpec(t, dir, faultySpec(`RELEASE: "1"`))
	ref := strings.TrimPrefix(reg.URL, "http://") + "/apps/hello:v1"
	cache := t.TempDir()
	out, err := tendCLI(t, cache, "build", "image", "-f", spec, "--push", ref, "-o", "json")
	if err != nil {
		t.Fatalf("tend build image: %v\n%s", err, out)
	}
	var res struct {
		Ref, Digest string
		Pushed      bool
	}
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out, "{\n"):]), &res); err != nil || !res.Pushed || res.Ref != ref {
		t.Fatalf("result %+v, %v\n%s", res, err, out)
	}
	r, _ := name.ParseReference(ref)
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if d, _ := img.Digest(); d.String() != res.Digest {
		t.Fatalf("pulled %s, tend said %s", d, res.Digest)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.Entrypoint[0] != "/app/hello" || cf.Config.User != "65532:65532" || cf.Config.Labels["org.opencontainers.image.title"] != "hello" {
		t.Fatalf("config: %+v", cf.Config)
	}

	tar := filepath.Join(dir, "hello.tar")
	if out, err := tendCLI(t, cache, "build", "image", "-f", spec, "--tarball", tar); err != nil || !strings.Contains(out, "written to "+tar+" as hello:latest "+res.Digest) {
		t.Fatalf("tend build image --tarball: %v\n%s", err, out)
	}
	fromTar, err := tarball.ImageFromPath(tar, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := fromTar.ConfigName()
	c2, _ := img.ConfigName()
	if c1 != c2 {
		t.Fatalf("the tarball's image config %s differs from the pushed one's %s (same source)", c1, c2)
	}
	if out, err := tendCLI(t, cache, "build", "image", "-f", spec); exitCode(err) != 4 || !strings.Contains(out, "--push REF or --tarball FILE") {
		t.Fatalf("without a destination: exit %d\n%s", exitCode(err), out)
	}
}

// tendCLI runs the tend binary without a server, with cache as its user cache directory.
func tendCLI(t *testing.T, cache string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tendBin, args...)
	cmd.Env = append(os.Environ(), "TEND_DATA="+t.TempDir(), "XDG_CACHE_HOME="+cache)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

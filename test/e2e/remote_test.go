package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/tendhq/tend/internal/api/v1"
)

// remoteClient runs the CLI as a client that shares nothing with the server but the
// API's address: its own working dir, home and data dir, and a token it is given.
type remoteClient struct {
	t               *testing.T
	bin, dir, token string
	api             string
	env             []string
}

func newRemoteClient(t *testing.T, s *server, token string) *remoteClient {
	t.Helper()
	dir := t.TempDir()
	return &remoteClient{t: t, bin: s.Bin, dir: dir, token: token, api: "http://" + s.API}
}

// run is the CLI's combined output; err carries the exit code.
func (c *remoteClient) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "TEND_API="+c.api, "TEND_TOKEN="+c.token, "TEND_DATA="+filepath.Join(c.dir, "no-data"),
		"HOME="+c.dir, "XDG_CONFIG_HOME="+filepath.Join(c.dir, ".config"))
	cmd.Env = append(cmd.Env, c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *remoteClient) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("tend %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tinyService writes a Go module of the client's with a service that answers its
// release: stdlib only, so that it builds anywhere.
func tinyService(t *testing.T, dir, release string) {
	t.Helper()
	src := fmt.Sprintf(`package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("GET /ready", func(http.ResponseWriter, *http.Request) {})
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(%q)) })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`, "release "+release)
	for name, body := range map[string]string{"go.mod": "module tiny\n\ngo 1.22\n", "main.go": src, ".gitignore": "*.tmp\n", "scratch.tmp": "not sent"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const tinySpec = `app: tiny
build: {%s}
instances: 1
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms}
`

// A client in a directory of its own deploys from source and from a prebuilt binary:
// the server builds from what it uploaded (its revision's spec points into the
// server's data dir), an unchanged redeploy sends nothing, and removing the client's
// directory does not keep the server from rolling back.
func TestAClientElsewhereDeploysByUpload(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	token, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil {
		t.Fatal(err)
	}
	c := newRemoteClient(t, s, strings.TrimSpace(string(token)))
	src := filepath.Join(c.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	tinyService(t, src, "1")
	specFile := filepath.Join(src, "tend.yaml")
	if err := os.WriteFile(specFile, fmt.Appendf(nil, tinySpec, "main: ."), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.must("deploy", "-f", "src/tend.yaml")
	if !strings.Contains(out, "upload: 4 files") || !strings.Contains(out, "sent in") {
		t.Errorf("the first deploy does not say what it uploaded (go.mod, main.go, .gitignore, tend.yaml):\n%s", out)
	}
	served := func(want string) {
		t.Helper()
		waitFor(t, time.Minute, "the gateway answers "+want, func() error {
			code, _, body, err := s.Get(http.DefaultClient, "/")
			if err != nil || code != 200 || body != want {
				return fmt.Errorf("%d %q %v", code, body, err)
			}
			return nil
		})
	}
	served("release 1")
	var h v1.History
	if err := json.Unmarshal([]byte(c.must("history", "tiny", "-o", "json")), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Revisions) != 1 {
		t.Fatalf("revisions: %+v", h.Revisions)
	}
	if root, _ := h.Revisions[0].Spec["root"].(string); !strings.HasPrefix(root, filepath.Join(data, "uploads")+"/") {
		t.Errorf("revision 1 was not built from an upload in the data dir: its spec's root is %q", root)
	}

	out = c.must("deploy", "-f", "src/tend.yaml")
	if !strings.Contains(out, "nothing sent") || !strings.Contains(out, "already serves") {
		t.Errorf("an unchanged redeploy:\n%s", out)
	}

	tinyService(t, src, "2")
	c.must("deploy", "-f", "src/tend.yaml")
	served("release 2")

	// a prebuilt binary: the executable and the spec are what goes up
	bin := filepath.Join(c.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	tinyService(t, src, "3")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "tiny"), ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(bin, "tend.yaml"), fmt.Appendf(nil, tinySpec, "binary: ./tiny"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = c.must("deploy", "-f", "bin/tend.yaml")
	if !strings.Contains(out, "upload: 2 files") {
		t.Errorf("the binary's deploy does not upload the executable and the spec alone:\n%s", out)
	}
	served("release 3")

	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	c.must("rollback", "tiny", "--to", "1")
	served("release 1")
}

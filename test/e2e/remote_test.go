package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/acmetest"
	v1 "github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
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
	return &remoteClient{t: t, bin: s.Bin, dir: dir, token: token, api: s.URL}
}

// command runs name (the CLI, or a script that calls it) as the client: in its dir, with
// its API, token, home and data dir, and env over them.
func (c *remoteClient) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "TEND_API="+c.api, "TEND_TOKEN="+c.token, "TEND_DATA="+filepath.Join(c.dir, "no-data"),
		"HOME="+c.dir, "XDG_CONFIG_HOME="+filepath.Join(c.dir, ".config"), "XDG_CACHE_HOME="+filepath.Join(c.dir, ".cache"))
	cmd.Env = append(cmd.Env, goCaches()...) // a build here (--build local, go test) reuses the machine's compiled packages
	cmd.Env = append(cmd.Env, c.env...)
	return cmd
}

// run is the CLI's combined output; err carries the exit code.
func (c *remoteClient) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := c.command(ctx, c.bin, args...).CombinedOutput()
	return string(out), err
}

// goCaches are the go command's caches of this machine, as variables.
var goCaches = sync.OnceValue(func() []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil
	}
	return []string{"GOCACHE=" + lines[0], "GOMODCACHE=" + lines[1]}
})

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
  readiness: {http: /ready, interval: 500ms, timeout: 450ms, failureThreshold: 3}
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

	// built here for the server's platform: the executable and the spec go up
	tinyService(t, src, "4")
	out = c.must("deploy", "-f", "src/tend.yaml", "--build", "local")
	if !strings.Contains(out, "here: go build") || !strings.Contains(out, "upload: 2 files") {
		t.Errorf("deploy --build local:\n%s", out)
	}
	served("release 4")
	out = c.must("deploy", "-f", "src/tend.yaml", "--build", "local")
	if !strings.Contains(out, "nothing sent") {
		t.Errorf("an unchanged deploy --build local uploads again:\n%s", out)
	}

	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	c.must("rollback", "tiny", "--to", "1")
	served("release 1")
}

// apiCert writes a CA and, signed by it, a certificate for 127.0.0.1 and localhost.
func apiCert(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	authority := acmetest.SelfSigned(t, acmetest.Cert{Hosts: []string{"ca.tend.test"}})
	leaf := authority.Sign(t, acmetest.Cert{Hosts: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	for f, b := range map[string]string{ca: authority.CertPEM, cert: leaf.CertPEM, key: leaf.KeyPEM} {
		if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}

// createToken is `tend token create` with the data dir's (admin) token; it returns the value.
func createToken(t *testing.T, s *server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.Command(ctx, append([]string{"token", "create"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tend token create %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// Over an HTTPS API, a deploy token for one app deploys it from another directory; a
// read token cannot (403, exit 1, saying what it lacks), a client that does not trust
// the certificate is refused, a revoked token gets 401, and the audit log shows each call.
func TestADeployTokenDeploysOverHTTPS(t *testing.T) {
	ca, cert, key := apiCert(t, t.TempDir())
	s := startServerWith(t, harness.Config{DataDir: t.TempDir(), Args: []string{"--api-tls-cert", cert, "--api-tls-key", key}, CAFile: ca})
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("the API's URL %s", s.URL)
	}
	ci := newRemoteClient(t, s, createToken(t, s, "ci", "--role", "deploy", "--apps", "tiny"))
	ci.env = []string{"TEND_CA_FILE=" + ca}
	viewer := newRemoteClient(t, s, createToken(t, s, "viewer", "--role", "read"))
	viewer.env = []string{"TEND_CA_FILE=" + ca}
	untrusting := newRemoteClient(t, s, ci.token)

	for _, c := range []*remoteClient{ci, viewer, untrusting} {
		tinyService(t, c.dir, "1")
		if err := os.WriteFile(filepath.Join(c.dir, "tend.yaml"), fmt.Appendf(nil, tinySpec, "main: ."), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := untrusting.run("deploy", "-f", "tend.yaml")
	if exitCode(err) != 1 || !strings.Contains(out, "certificate") || !strings.Contains(out, "--ca-file") {
		t.Errorf("a client without the CA: exit %d\n%s", exitCode(err), out)
	}
	out, err = viewer.run("deploy", "-f", "tend.yaml")
	if exitCode(err) != 1 || !strings.Contains(out, `token "viewer" has role read`) || !strings.Contains(out, "needs role deploy") {
		t.Errorf("a read token deploys: exit %d\n%s", exitCode(err), out)
	}
	out = ci.must("deploy", "-f", "tend.yaml")
	if !strings.Contains(out, "tiny revision 1 serves") {
		t.Errorf("the deploy token's deploy:\n%s", out)
	}
	viewer.must("status", "tiny")
	s.mustTend("token", "revoke", "viewer")
	out, err = viewer.run("status", "tiny")
	if exitCode(err) != 1 || !strings.Contains(out, "revoked") {
		t.Errorf("a revoked token: exit %d\n%s", exitCode(err), out)
	}

	var log v1.AuditLog
	if err := json.Unmarshal([]byte(s.mustTend("audit", "-o", "json")), &log); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range log.Entries {
		seen[fmt.Sprintf("%s %s %s %d", e.Token, e.Method, e.Route, e.Status)] = true
	}
	for _, want := range []string{
		"ci GET /v1/uploads/{digest} 404", "ci PUT /v1/uploads/{digest} 201", "ci POST /v1/deploy 200",
		"viewer GET /v1/uploads/{digest} 403", "viewer GET /v1/apps/{app} 200", "viewer GET /v1/apps/{app} 401",
	} {
		if !seen[want] {
			t.Errorf("the audit log lacks %q; it has %v", want, seen)
		}
	}
}

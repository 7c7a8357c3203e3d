package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/tendhq/tend/internal/api/v1"
)

// secretSpec is a tend.yaml for testdata/envreport with DATABASE_URL from secret
// db-url, and extra appended.
func secretSpec(t *testing.T, dir, extra string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "envreport")
	if _, err := os.Stat(filepath.Join(dir, "production.yaml")); err != nil {
		if err := os.WriteFile(filepath.Join(dir, "production.yaml"), []byte("database: {pool: 10}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return writeSpec(t, dir, fmt.Sprintf(`app: shop
build: {main: %s}
instances: 1
env:
  REPORT_VARS: DATABASE_URL,LOG_LEVEL
  REPORT_FILES: config/production.yaml,certs/key.pem
  LOG_LEVEL: info
  DATABASE_URL: {secret: db-url}
files:
- {path: config/production.yaml, from: ./production.yaml}
- {path: certs/key.pem, secret: tls-key}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms}
%s`, src, extra))
}

// setSecret is `tend secret set APP NAME` with value on stdin.
func (s *server) setSecret(app, name, value string, flags ...string) string {
	s.t.Helper()
	out, err := s.SetSecret(app, name, value, flags...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// reported is what the ready instance of revision rev of shop was given.
func (s *server) reported(rev int) map[string]string {
	s.t.Helper()
	var got map[string]string
	waitFor(s.t, time.Minute, fmt.Sprintf("a ready instance of revision %d", rev), func() error {
		for _, in := range s.status("shop").Running {
			if in.Revision != rev || in.State != v1.Ready {
				continue
			}
			resp, err := http.Get("http://" + in.Addr + "/")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&got)
		}
		return fmt.Errorf("none yet")
	})
	return got
}

func randomValue(what string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "postgres://shop:" + what + "-" + hex.EncodeToString(b) + "@db.internal/shop"
}

// A secret set through stdin reaches the instance's environment and nothing else: not
// the data dir, the server's log, the API, ps or the dashboard. A rollback gives the
// instance the value its revision was deployed with.
func TestSecretsReachInstancesAndNothingElse(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	dir := t.TempDir()
	first, second := randomValue("first"), randomValue("second")

	if out := s.setSecret("shop", "db-url", first); !strings.Contains(out, "v1") {
		t.Errorf("set said:\n%s", out)
	}
	key := "-----BEGIN PRIVATE KEY-----\n" + randomValue("key") + "\n-----END PRIVATE KEY-----\n"
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustTend("secret", "set", "shop", "tls-key", "--from-file", keyFile)
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	s.mustTend("deploy", "-f", secretSpec(t, dir, ""))
	got := s.reported(1)
	if got["DATABASE_URL"] != first || got["LOG_LEVEL"] != "info" {
		t.Fatalf("revision 1's instance got %v, want DATABASE_URL the first value", got)
	}
	if got["file:config/production.yaml"] != "database: {pool: 10}\n" || got["mode:config/production.yaml"] != "-r--r--r--" ||
		got["file:certs/key.pem"] != key || got["mode:certs/key.pem"] != "-r--------" {
		t.Errorf("revision 1's files: %q", got)
	}

	// a new version changes nothing until a deploy, which makes a revision of it
	s.setSecret("shop", "db-url", second)
	if st := s.status("shop"); st.Rollout.Stable != 1 {
		t.Fatalf("setting a secret moved the app to revision %d", st.Rollout.Stable)
	}
	s.mustTend("deploy", "-f", secretSpec(t, dir, ""))
	if got := s.reported(2); got["DATABASE_URL"] != second {
		t.Fatalf("revision 2's instance got %v, want the second value", got)
	}
	history := s.mustTend("history", "shop")
	if !strings.Contains(history, "secret db-url v1 → v2") {
		t.Errorf("tend history does not say what changed:\n%s", history)
	}
	list := s.mustTend("secret", "list", "shop", "-o", "json")
	var secrets []v1.Secret
	if err := json.Unmarshal([]byte(list), &secrets); err != nil || len(secrets) != 2 || secrets[0].Name != "db-url" || secrets[0].Version != 2 || len(secrets[0].UsedBy) != 2 {
		t.Errorf("tend secret list: %v\n%s", err, list)
	}
	out, err := s.tend("secret", "rm", "shop", "db-url")
	if err == nil || !strings.Contains(out, "revision 2 (v2), which runs") {
		t.Errorf("removing a secret a running revision uses: %v\n%s", err, out)
	}

	// the rollback restores the value revision 1 ran with
	s.mustTend("rollback", "shop")
	if got := s.reported(1); got["DATABASE_URL"] != first {
		t.Fatalf("after the rollback the instance got %v, want the first value", got)
	}

	// tend export k8s names the secrets; only --include-secrets writes their current values
	specFile := secretSpec(t, dir, "")
	b64 := func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
	plain := s.mustTend("export", "k8s", "-f", specFile)
	if !strings.Contains(plain, "tend.dev/secret-keys: db-url,tls-key") || !strings.Contains(plain, "--field-manager=secret-values") ||
		strings.Contains(plain, b64(second)) || strings.Contains(plain, second) {
		t.Errorf("tend export k8s without --include-secrets:\n%s", plain)
	}
	included := s.mustTend("export", "k8s", "-f", specFile, "--include-secrets")
	if !strings.Contains(included, "db-url: "+b64(second)) || !strings.Contains(included, "tls-key: "+b64(key)) || !strings.Contains(included, "warning") {
		t.Errorf("tend export k8s --include-secrets does not hold the current values with a warning:\n%s", included)
	}

	// where the values must not be
	seen := map[string]string{
		"tend status -o json":      s.mustTend("status", "shop", "-o", "json"),
		"tend status -o yaml":      s.mustTend("status", "shop", "-o", "yaml"),
		"tend history -o json":     s.mustTend("history", "shop", "-o", "json"),
		"tend secret list -o json": list,
		"tend routes -o json":      s.mustTend("routes", "-o", "json"),
		"the server's log":         s.Log(),
	}
	for _, path := range []string{"/v1/apps", "/v1/apps/shop", "/v1/apps/shop/history", "/v1/apps/shop/secrets", "/v1/gateway", "/"} {
		code, body := s.apiGet(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		seen["GET "+path] = body
	}
	ps, err := exec.Command("ps", "-eo", "pid,args").CombinedOutput()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	seen["ps -eo pid,args"] = string(ps)
	if !strings.Contains(seen["ps -eo pid,args"], "server") || !strings.Contains(seen["GET /v1/apps/shop"], "db-url") {
		t.Fatal("the places searched are not what they should be (no tend server in ps, no secret name in the status)")
	}
	for where, text := range seen {
		for _, v := range []string{first, second, key} {
			if strings.Contains(text, v) {
				t.Errorf("a secret value is in %s", where)
			}
		}
	}
	files := 0
	_ = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files++
		for _, v := range []string{first, second} {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("a secret value is in %s", path)
			}
		}
		// a secret file is in the working dir of the instance it is given to, no other place
		if rel, _ := filepath.Rel(filepath.Join(data, "instances"), path); bytes.Contains(b, []byte(key)) && !filepath.IsLocal(rel) {
			t.Errorf("the secret file's value is in %s", path)
		}
		return nil
	})
	if files < 10 {
		t.Errorf("searched %d files of the data dir; the etcd files should be among them", files)
	}
}

// A spec that names a secret nobody set is refused at its line with the command to
// run, and nothing changes.
func TestADeployNamingAMissingSecretChangesNothing(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	s.setSecret("shop", "db-url", randomValue("only"))
	s.setSecret("shop", "tls-key", randomValue("key"))
	s.mustTend("deploy", "-f", secretSpec(t, dir, ""))
	before := s.mustTend("history", "shop", "-o", "json")

	spec := secretSpec(t, dir, "secrets: [API_KEY]\n")
	out, err := s.tend("deploy", "-f", spec)
	if code := exitCode(err); code != 4 {
		t.Fatalf("deploy with a missing secret exited %d, want 4:\n%s", code, out)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(spec)+`:\d+:\d+: secrets\[0\]`).MatchString(out) || !strings.Contains(out, "tend secret set shop API_KEY") {
		t.Errorf("the refusal does not name the line and the command to run:\n%s", out)
	}
	if after := s.mustTend("history", "shop", "-o", "json"); after != before {
		t.Errorf("a refused deploy changed the history:\n%s\nwas\n%s", after, before)
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api/v1"
)

// cliEnv gives a test its own config dir and default data dir, with no TEND_* variable set.
func cliEnv(t *testing.T) (configDir, dataDir string) {
	t.Helper()
	configDir, dataHome := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", configDir)
	t.Setenv("XDG_DATA_HOME", dataHome) // the default data dir: $XDG_DATA_HOME/tend
	dataDir = filepath.Join(dataHome, "tend")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"TEND_API", "TEND_TOKEN", "TEND_CA_FILE", "TEND_CONTEXT", "TEND_DATA", "TEND_TLS_SERVER_NAME"} {
		t.Setenv(v, "")
	}
	return configDir, dataDir
}

// run runs the tend command line with args and stdin, and returns its stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("tend %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestContextCommandsWriteAPrivateConfigFile(t *testing.T) {
	configDir, _ := cliEnv(t)
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "prod.token"), "prod-token\n")
	out := mustRun(t, "", "context", "add", "prod", "--api", "https://tend.example.com:7070", "--token-file", tokenFile)
	if !strings.Contains(out, "it is the current context") {
		t.Errorf("first add: %q, want it made current", out)
	}
	mustRun(t, "ci-token\n", "context", "add", "ci", "--api", "https://ci.example.com:7070", "--token-stdin")

	path := filepath.Join(configDir, "tend", "config.yaml")
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: %v mode %v, want %v", p, err, st.Mode().Perm(), want)
		}
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"current: prod", "tokenFile: " + tokenFile, "token: ci-token", "api: https://ci.example.com:7070"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config file lacks %q:\n%s", want, b)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the config dir holds %d files, want the config alone (no temporary file left)", len(entries))
	}

	var list []contextView
	if err := json.Unmarshal([]byte(mustRun(t, "", "context", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	want := []contextView{{Name: "ci", API: "https://ci.example.com:7070", TokenStored: true},
		{Name: "prod", API: "https://tend.example.com:7070", TokenFile: tokenFile, Current: true}}
	if len(list) != 2 || list[0] != want[0] || list[1] != want[1] {
		t.Fatalf("list: %+v, want %+v", list, want)
	}
	if out := mustRun(t, "", "context", "list"); strings.Contains(out, "ci-token") || !strings.Contains(out, "*  ") {
		t.Errorf("the table shows a token or no current marker:\n%s", out)
	}

	mustRun(t, "", "context", "use", "ci")
	out = mustRun(t, "", "--context", "prod", "context", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || !list[1].Current {
		t.Errorf("--context prod marks prod: %s", out)
	}
	if _, _, err := run(t, "", "context", "use", "nope"); err == nil || !strings.Contains(err.Error(), "there are ci, prod") {
		t.Errorf("use of an unknown context: %v", err)
	}
	out = mustRun(t, "", "context", "rm", "ci")
	if !strings.Contains(out, "no context is current now") {
		t.Errorf("rm of the current context: %q", out)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "ci-token") || strings.Contains(string(b), "current:") {
		t.Errorf("after rm ci:\n%s", b)
	}

	for _, bad := range [][]string{
		{"context", "add", "x", "--api", "https://a:1"},                                                    // no token
		{"context", "add", "x", "--api", "https://a:1", "--token-file", tokenFile, "--token-stdin"},        // two tokens
		{"context", "add", "x", "--api", "tend.example.com", "--token-file", tokenFile},                    // no scheme
		{"context", "add", "x", "--api", "http://a:1", "--token-file", tokenFile, "--ca-file", tokenFile},  // a CA for plain HTTP
		{"context", "add", "x", "--api", "https://a:1", "--token-file", tokenFile, "--ca-file", tokenFile}, // not PEM
		{"context", "add", "x y", "--api", "https://a:1", "--token-file", tokenFile},
		{"--token", "t", "context", "add", "x", "--api", "https://a:1", "--token-stdin"},
		{"context", "add", "x", "--api", "https://a:1", "--token-file", filepath.Join(t.TempDir(), "missing")},
	} {
		if _, _, err := run(t, "t", bad...); err == nil {
			t.Errorf("tend %s: no error", strings.Join(bad, " "))
		}
	}
	if _, errOut, err := run(t, "", "context", "add", "lan", "--api", "http://10.0.0.5:7070", "--token-file", tokenFile); err != nil || !strings.Contains(errOut, "clear text") {
		t.Errorf("plain HTTP to a LAN address: %v, stderr %q, want a warning", err, errOut)
	}
}

func TestClientTakesEachPartFromTheMostSpecificSource(t *testing.T) {
	configDir, dataDir := cliEnv(t)
	files := t.TempDir()
	prodToken := writeFile(t, filepath.Join(files, "prod.token"), "prod-token\n")
	prodCA := writeFile(t, filepath.Join(files, "prod-ca.pem"), "")
	localData := t.TempDir()
	writeFile(t, filepath.Join(localData, "api"), "http://127.0.0.1:7171\n")
	writeFile(t, filepath.Join(localData, "token"), "local-token\n")
	g := func(mod func(*globals)) *globals {
		g := &globals{dataDir: DefaultDataDir()}
		if mod != nil {
			mod(g)
		}
		return g
	}
	check := func(name string, g *globals, api, apiFrom, token, tokenFrom, ca string) {
		t.Helper()
		got, err := g.target()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.api != api || !strings.Contains(got.apiFrom, apiFrom) || got.token != token || !strings.Contains(got.tokenFrom, tokenFrom) || got.caFile != ca {
			t.Errorf("%s: api %s (from %s), token %s (from %s), ca %q;\nwant %s (%s), %s (%s), %q",
				name, got.api, got.apiFrom, got.token, got.tokenFrom, got.caFile, api, apiFrom, token, tokenFrom, ca)
		}
	}

	// no config file, and no server has run on the data dir: say so, and how to start one
	if _, err := g(nil).target(); err == nil || !strings.Contains(err.Error(), "no tend server found") || !strings.Contains(err.Error(), "start one with `tend server`") {
		t.Fatalf("nothing anywhere: %v", err)
	}
	writeFile(t, filepath.Join(dataDir, "token"), "data-token\n")
	check("no config, no DATA/api", g(nil), "http://127.0.0.1:7070", "default", "data-token", filepath.Join(dataDir, "token"), "")
	writeFile(t, filepath.Join(dataDir, "api"), "127.0.0.1:7272\n")
	check("no config", g(nil), "http://127.0.0.1:7272", filepath.Join(dataDir, "api"), "data-token", "data dir", "")

	// contexts
	if err := saveConfig(filepath.Join(configDir, "tend", "config.yaml"), &cliConfig{Current: "prod", Contexts: map[string]*cliContext{
		"prod":    {API: "https://prod.example.com:7070", TokenFile: prodToken, CAFile: prodCA},
		"staging": {API: "https://staging.example.com:7070", Token: "staging-token"},
	}}); err != nil {
		t.Fatal(err)
	}
	check("the current context", g(nil), "https://prod.example.com:7070", "context prod", "prod-token", "token file "+prodToken, prodCA)
	t.Setenv("TEND_CONTEXT", "staging")
	check("TEND_CONTEXT", g(nil), "https://staging.example.com:7070", "context staging", "staging-token", "stored in", "")
	check("--context over TEND_CONTEXT", g(func(g *globals) { g.context = "prod" }), "https://prod.example.com:7070", "context prod", "prod-token", "prod", prodCA)
	t.Setenv("TEND_CONTEXT", "")
	check("--data over the current context", g(func(g *globals) { g.dataDir = localData }), "http://127.0.0.1:7171", "data dir", "local-token", "data dir", "")
	t.Setenv("TEND_DATA", localData)
	check("TEND_DATA over the current context", g(func(g *globals) { g.dataDir = localData }), "http://127.0.0.1:7171", "data dir", "local-token", "data dir", "")
	check("--context over TEND_DATA", g(func(g *globals) { g.dataDir = localData; g.context = "staging" }), "https://staging.example.com:7070", "context", "staging-token", "context", "")
	t.Setenv("TEND_DATA", "")

	t.Setenv("TEND_TOKEN", "env-token")
	check("TEND_TOKEN over the context", g(nil), "https://prod.example.com:7070", "context prod", "env-token", "TEND_TOKEN", prodCA)
	t.Setenv("TEND_CA_FILE", "/env/ca.pem")
	check("TEND_CA_FILE over the context", g(nil), "https://prod.example.com:7070", "context prod", "env-token", "TEND_TOKEN", "/env/ca.pem")
	check("flags over the environment", g(func(g *globals) { g.token, g.caFile, g.api = "flag-token", "/flag/ca.pem", "https://flag:1" }),
		"https://flag:1", "--api", "flag-token", "--token", "/flag/ca.pem")
	t.Setenv("TEND_TOKEN", "")
	t.Setenv("TEND_CA_FILE", "")

	// a context's token and CA go to its own API only
	t.Setenv("TEND_API", "https://prod.example.com:7070/")
	check("TEND_API naming the context's server", g(nil), "https://prod.example.com:7070/", "TEND_API", "prod-token", "prod", prodCA)
	// nor does the data dir's (admin) token, but to its own server or one on loopback
	t.Setenv("TEND_API", "https://elsewhere:7070")
	if _, err := g(nil).target(); err == nil || !strings.Contains(err.Error(), "the data dir's token (an admin token) goes only to its own server") ||
		!strings.Contains(err.Error(), "context prod's token goes only to its own API") {
		t.Errorf("another server and no token for it: %v", err)
	}
	t.Setenv("TEND_API", "http://127.0.0.1:7999")
	check("TEND_API naming a server on this machine", g(nil), "http://127.0.0.1:7999", "TEND_API", "data-token", "data dir", "")
	if err := os.Remove(filepath.Join(dataDir, "token")); err != nil {
		t.Fatal(err)
	}
	if _, err := g(nil).target(); err == nil || !strings.Contains(err.Error(), "context prod's token goes only to its own API") {
		t.Errorf("another server and no data dir token: %v", err)
	}
	t.Setenv("TEND_API", "")

	t.Setenv("TEND_CONTEXT", "nope")
	if _, err := g(nil).target(); err == nil || !strings.Contains(err.Error(), `no context "nope" (from TEND_CONTEXT)`) || !strings.Contains(err.Error(), "prod, staging") {
		t.Errorf("an unknown TEND_CONTEXT: %v", err)
	}
}

func TestBadConfigFilesAreNamedWithLineAndField(t *testing.T) {
	configDir, _ := cliEnv(t)
	path := filepath.Join(configDir, "tend", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ yaml, want string }{
		{"contexts:\n  prod:\n    api: https://a:1\n    tokn: x\n", path + ":4:5: contexts.prod.tokn: field tokn not found"},
		{"contexts:\n  prod:\n    api: a:1\n    token: x\n", path + ":3:10: contexts.prod.api: API URL \"a:1\": want http:// or https://"},
		{"current: prod\ncontexts:\n  dev:\n    api: https://a:1\n    token: x\n", path + ":1:10: current: names no context (there are dev)"},
		{"contexts:\n  prod:\n    api: https://a:1\n    token: x\n    tokenFile: f\n", path + ":4:12: contexts.prod.token: both token and tokenFile"},
		{"contexts:\n  prod:\n    api: https://a:1\n", path + ":3:5: contexts.prod: no token"},
		{"contexts: [\n", path + ":"},
	} {
		writeFile(t, path, c.yaml)
		_, errOut, err := run(t, "", "status", "--data", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q\n%s", c.yaml, err, c.want, errOut)
		}
	}

	// a readable file works, and one open to others gets a warning
	writeFile(t, path, "contexts:\n  dev:\n    api: https://a:1\n    token: x\n")
	if _, warnings, err := loadConfig(path); err != nil || len(warnings) != 0 {
		t.Fatalf("a private config: %v %v", warnings, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, warnings, err := loadConfig(path); err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "chmod 600 "+path) {
		t.Fatalf("a config open to others: %v %v", warnings, err)
	}
	// and a write puts it back to 0600
	if err := saveConfig(path, &cliConfig{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("after a write: mode %v", st.Mode().Perm())
	}
}

func TestCommandsReachAnHTTPSServerThroughAContext(t *testing.T) {
	cliEnv(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(v1.VersionHeader, "1")
		if r.Header.Get("Authorization") != "Bearer right" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(v1.ErrorBody{Error: "missing or wrong API token"})
			return
		}
		json.NewEncoder(w).Encode(v1.VersionInfo{Version: "test", API: v1.Version})
	}))
	defer srv.Close()
	files := t.TempDir()
	// the test server's certificate is self-signed: its own file is the CA file
	ca := writeFile(t, filepath.Join(files, "ca.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	tokenFile := writeFile(t, filepath.Join(files, "token"), "right\n")

	mustRun(t, "", "context", "add", "nocas", "--api", srv.URL, "--token-file", tokenFile)
	// tend version says why it did not reach the server on stdout
	if out := mustRun(t, "", "version"); !strings.Contains(out, "does not verify") || !strings.Contains(out, "--ca-file") {
		t.Fatalf("a self-signed server without a CA file: %s, want a refusal that says --ca-file", out)
	}
	if out := mustRun(t, "", "version", "--ca-file", ca); !strings.Contains(out, "server: test") {
		t.Fatalf("with --ca-file: %s", out)
	}
	mustRun(t, "", "context", "add", "lab", "--api", srv.URL, "--token-file", tokenFile, "--ca-file", ca)
	mustRun(t, "", "context", "use", "lab")
	if out := mustRun(t, "", "version"); !strings.Contains(out, "server: test") {
		t.Fatalf("with the context's CA: %s", out)
	}
	writeFile(t, tokenFile, "wrong\n")
	if out := mustRun(t, "", "version"); !strings.Contains(out, "this CLI sent the token from context lab (token file "+tokenFile+")") {
		t.Fatalf("a wrong token: %s, want the error to say where the token came from", out)
	}
}

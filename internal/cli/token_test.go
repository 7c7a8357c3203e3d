package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/token"
)

// tokenAPI is an API server with scoped tokens and an audit log; "t" is its token file's.
func tokenAPI(t *testing.T) *httptest.Server {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no context of the user's
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := token.Open(st, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(api.Handler(api.Options{Token: "t", Tokens: k, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(func() { srv.Close(); k.Close(); st.Close() })
	return srv
}

// tendAs runs tend with args against srv with token tok, and returns its stdout and stderr.
func tendAs(t *testing.T, srv *httptest.Server, tok string, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--api", srv.URL, "--token", tok))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// A token is printed alone on stdout, once; what it can do goes to stderr; list shows
// it without its value; revoke ends it.
func TestTokenCreateListRevoke(t *testing.T) {
	srv := tokenAPI(t)
	out, errOut, err := tendAs(t, srv, "t", "token", "create", "ci", "--role", "deploy", "--apps", "hello,api", "--expires", "90d")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	value := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(value, token.Prefix) || strings.ContainsAny(value, " \n") {
		t.Errorf("stdout %q: want the token's value alone", out)
	}
	if !strings.Contains(errOut, "token ci (role deploy) can read, deploy, promote, abort, roll back, restart, scale and set secrets of api, hello only, until 20") ||
		!strings.Contains(errOut, "shown this once") {
		t.Errorf("stderr: %s", errOut)
	}
	if _, _, err := tendAs(t, srv, "t", "token", "create", "ops", "--role", "read"); err != nil {
		t.Fatal(err)
	}

	out, _, err = tendAs(t, srv, "t", "token", "list", "-o", "json")
	var list []v1.Token
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].Name != "ci" || list[1].Role != v1.RoleRead {
		t.Fatalf("list -o json: %v %s", err, out)
	}
	if strings.Contains(out, value) || strings.Contains(out, "hash") {
		t.Errorf("the list holds a value or a hash: %s", out)
	}
	out, _, _ = tendAs(t, srv, "t", "token", "list")
	if !strings.HasPrefix(out, "NAME  ROLE    APPS       CREATED") || !strings.Contains(out, "ci    deploy  api,hello") || !strings.Contains(out, "ops   read    all") || !strings.Contains(out, "never") {
		t.Errorf("list:\n%s", out)
	}

	// the token works until it is revoked
	if _, _, err := tendAs(t, srv, value, "token", "list"); err == nil || !strings.Contains(err.Error(), `token "ci" has role deploy; listing tokens needs role admin`) {
		t.Errorf("list with the deploy token: %v, want what it lacks", err)
	}
	out, _, err = tendAs(t, srv, "t", "token", "revoke", "ci")
	if err != nil || !strings.Contains(out, "token ci (role deploy) revoked") {
		t.Errorf("revoke: %v %s", err, out)
	}
	_, _, err = tendAs(t, srv, value, "status", "hello")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized || !strings.Contains(err.Error(), "was revoked") {
		t.Errorf("the revoked token: %v, want 401 saying it was revoked", err)
	}
}

// A token without a role, or with a bad one, is refused as an invalid request (exit 4).
func TestTokenCreateRefusesABadRequest(t *testing.T) {
	srv := tokenAPI(t)
	_, _, err := tendAs(t, srv, "t", "token", "create", "ci")
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != exitInvalid || !strings.Contains(err.Error(), "--role") {
		t.Errorf("no role: %v, want exit 4 saying --role is missing", err)
	}
	_, _, err = tendAs(t, srv, "t", "token", "create", "ci", "--role", "deploy", "--expires", "soon")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "like 90d") {
		t.Errorf("a bad --expires: %v, want 400 with an example", err)
	}
}

// tend audit shows each call with its token, role, route, app and status.
func TestAuditShowsTheCalls(t *testing.T) {
	srv := tokenAPI(t)
	read, _, err := tendAs(t, srv, "t", "token", "create", "grafana", "--role", "read")
	if err != nil {
		t.Fatal(err)
	}
	read = strings.TrimSpace(read)
	if _, _, err := tendAs(t, srv, read, "restart", "hello"); err == nil || !strings.Contains(err.Error(), `token "grafana" has role read`) {
		t.Errorf("restart with a read token: %v", err)
	}
	out, errOut, err := tendAs(t, srv, "t", "audit", "--by", "grafana")
	if err != nil {
		t.Fatalf("audit: %v %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "TIME TOKEN ROLE METHOD ROUTE APP STATUS DURATION" {
		t.Fatalf("audit --by grafana:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 9 || f[2] != "grafana" || f[3] != "read" || f[4] != "POST" || f[5] != "/v1/apps/{app}/{action}" || f[6] != "hello" || f[7] != "403" {
		t.Errorf("the refused restart: %q", lines[1])
	}
	out, _, err = tendAs(t, srv, "t", "audit", "--limit", "2", "-o", "json")
	var log v1.AuditLog
	if err != nil || json.Unmarshal([]byte(out), &log) != nil || len(log.Entries) != 2 {
		t.Fatalf("audit -o json: %v %s", err, out)
	}
	if e := log.Entries[1]; e.Token != token.FileName || e.Route != "/v1/audit" || e.Status != 200 {
		t.Errorf("the previous tend audit: %+v", e)
	}
}

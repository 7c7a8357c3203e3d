package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/token"
	"github.com/tendhq/tend/internal/upload"
)

// tokenServer is a full server (fullOptions, with "t" the token file's token) with
// scoped tokens and an audit log, and apps hello and shop deployed.
func tokenServer(t *testing.T) (*httptest.Server, *token.Keeper) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := token.Open(st, slog.New(slog.DiscardHandler))
	o := fullOptions(t)
	o.Tokens = k
	srv := httptest.NewServer(Handler(o))
	t.Cleanup(func() { srv.Close(); k.Close(); st.Close() })
	for _, app := range []string{"hello", "shop"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, body := send(t, srv, "t", "POST", "/v1/deploy", `{"file": "/srv/`+app+`/tend.yaml", "source": "app: `+app+`\nbuild: {binary: /bin/`+app+`}\n"}`)
			if strings.Contains(body, `"result"`) {
				break
			}
			if !strings.Contains(body, "starting") || time.Now().After(deadline) {
				t.Fatalf("deploy %s: %s", app, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return srv, k
}

// send calls the API with tok as the bearer token ("": none) and returns the status
// and the body.
func send(t *testing.T, srv *httptest.Server, tok, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// create makes a token through the API with the token file's token, and returns its value.
func create(t *testing.T, srv *httptest.Server, req v1.TokenRequest) string {
	t.Helper()
	b, _ := json.Marshal(req)
	code, body := send(t, srv, "t", "POST", "/v1/tokens", string(b))
	var nt v1.NewToken
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &nt) != nil || !strings.HasPrefix(nt.Value, token.Prefix) {
		t.Fatalf("create %+v: %d %s", req, code, body)
	}
	return nt.Value
}

// A read token reads, and is refused what needs more with what it lacks.
func TestAReadTokenCannotDeploy(t *testing.T) {
	srv, _ := tokenServer(t)
	read := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleRead})
	for _, path := range []string{"/v1/apps", "/v1/apps/hello", "/v1/apps/hello/history", "/v1/apps/hello/secrets", "/v1/gateway", "/v1/incidents", "/v1/openapi.json"} {
		if code, body := send(t, srv, read, "GET", path, ""); code != http.StatusOK {
			t.Errorf("GET %s with a read token: %d %s", path, code, body)
		}
	}
	code, body := send(t, srv, read, "POST", "/v1/deploy", `{"file": "/srv/hello/tend.yaml", "source": "app: hello\nbuild: {binary: /bin/hello}\n"}`)
	if want := `token \"ci\" has role read; deploying needs role deploy (tend token create NAME --role deploy)`; code != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("deploy with a read token: %d %s, want 403 saying %s", code, body, want)
	}
	for _, c := range []struct{ method, path, body, need string }{
		{"POST", "/v1/apps/hello/rollback", "", "role deploy"},
		{"PUT", "/v1/apps/hello/secrets/db-url", `{"value": "eA=="}`, "setting a secret needs role deploy"},
		{"POST", "/v1/apps/hello/secrets/reveal", `{"names": ["db-url"]}`, "revealing secret values needs role admin"},
		{"GET", "/v1/tokens", "", "listing tokens needs role admin"},
		{"GET", "/v1/audit", "", "reading the audit log needs role admin"},
		{"POST", "/v1/incidents/1/ack", "", "needs role admin"},
	} {
		if code, body := send(t, srv, read, c.method, c.path, c.body); code != http.StatusForbidden || !strings.Contains(body, c.need) {
			t.Errorf("%s %s with a read token: %d %s, want 403 saying %q", c.method, c.path, code, body, c.need)
		}
	}
	// a path no route serves is a 404, not a refusal
	if code, _ := send(t, srv, read, "GET", "/v1/nothing", ""); code != http.StatusNotFound {
		t.Errorf("GET /v1/nothing: %d, want 404", code)
	}
	deploy := create(t, srv, v1.TokenRequest{Name: "deployer", Role: v1.RoleDeploy})
	if code, body := send(t, srv, deploy, "PUT", "/v1/apps/hello/secrets/db-url", `{"value": "eA=="}`); code != http.StatusOK {
		t.Errorf("set a secret with a deploy token: %d %s", code, body)
	}
	if code, body := send(t, srv, deploy, "POST", "/v1/secrets/rotate-key", ""); code != http.StatusForbidden || !strings.Contains(body, `token \"deployer\" has role deploy; rotating the secrets key needs role admin`) {
		t.Errorf("rotate the key with a deploy token: %d %s", code, body)
	}
}

// A token limited to hello sees hello alone and may not act on shop.
func TestATokenForAnAppTouchesOnlyThatApp(t *testing.T) {
	srv, _ := tokenServer(t)
	if _, body := send(t, srv, "t", "GET", "/v1/apps", ""); !strings.Contains(body, `"app": "shop"`) {
		t.Fatalf("the admin token does not see shop: %s", body)
	}
	hello := create(t, srv, v1.TokenRequest{Name: "hello-ci", Role: v1.RoleDeploy, Apps: []string{"hello"}})
	code, body := send(t, srv, hello, "GET", "/v1/apps", "")
	var apps []v1.App
	if code != http.StatusOK || json.Unmarshal([]byte(body), &apps) != nil || len(apps) != 1 || apps[0].App != "hello" {
		t.Errorf("GET /v1/apps with a token for hello: %d %s, want hello alone", code, body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/apps/shop", ""},
		{"GET", "/v1/apps/shop/logs", ""},
		{"POST", "/v1/apps/shop/restart", ""},
		{"PUT", "/v1/apps/shop/secrets/db-url", `{"value": "eA=="}`},
	} {
		code, body := send(t, srv, hello, c.method, c.path, c.body)
		if want := `token \"hello-ci\" may act on hello only, not on \"shop\"`; code != http.StatusForbidden || !strings.Contains(body, want) {
			t.Errorf("%s %s with a token for hello: %d %s, want 403 saying %s", c.method, c.path, code, body, want)
		}
	}
	if code, body := send(t, srv, hello, "GET", "/v1/apps/hello", ""); code != http.StatusOK {
		t.Errorf("GET /v1/apps/hello: %d %s", code, body)
	}
	if code, body := send(t, srv, hello, "POST", "/v1/apps/hello/restart", ""); code != http.StatusOK {
		t.Errorf("restart hello: %d %s", code, body)
	}
}

// The deploy handler asks mayDeploy once it knows the app from the spec.
func TestMayDeployChecksTheAppOfTheSpec(t *testing.T) {
	s := &server{}
	for _, c := range []struct {
		who       token.Token
		app, want string
	}{
		{token.Token{Name: "ci", Role: token.Deploy, Apps: []string{"hello"}}, "hello", ""},
		{token.Token{Name: "ci", Role: token.Deploy, Apps: []string{"hello", "api"}}, "shop", `token "ci" may act on hello, api only, not on "shop"`},
		{token.Token{Name: "ci", Role: token.Deploy}, "shop", ""},
		{token.Token{Name: "bot", Role: token.Read}, "shop", `token "bot" has role read; deploying needs role deploy`},
		{token.Token{Name: token.FileName, Role: token.Admin}, "shop", ""},
	} {
		c0 := &call{who: c.who}
		r := httptest.NewRequestWithContext(context.WithValue(context.Background(), callKey{}, c0), "POST", "/v1/deploy", nil)
		err := s.mayDeploy(r, c.app)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v deploys %s: %v, want %q", c.who, c.app, err, c.want)
		}
		if c0.app != c.app {
			t.Errorf("the audit log's app: %q, want %q", c0.app, c.app)
		}
	}
	if err := s.mayDeploy(httptest.NewRequest("POST", "/v1/deploy", nil), "shop"); err == nil {
		t.Error("a request no token was checked for may deploy")
	}
}

// Through the deploy route: a deploy token for hello is refused shop's spec, and any
// deploy without an upload (paths on the server's disk) unless the token is admin.
func TestTheDeployRouteChecksTheSpecsAppAndTheUpload(t *testing.T) {
	srv, _ := tokenServer(t)
	ci := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleDeploy, Apps: []string{"hello"}})
	for _, c := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"another app's spec", `{"file": "/c/tend.yaml", "source": "app: shop\nbuild: {binary: /bin/shop}\n", "upload": "` + strings.Repeat("a", 64) + `"}`,
			http.StatusForbidden, `may act on hello only, not on \"shop\"`},
		{"no upload", `{"file": "/srv/hello/tend.yaml", "source": "app: hello\nbuild: {binary: /bin/hello}\n"}`,
			http.StatusForbidden, "deploying from paths on the server's disk"},
		{"its app, an upload the server lacks", `{"file": "/c/tend.yaml", "source": "app: hello\nbuild: {binary: /bin/hello}\n", "upload": "` + strings.Repeat("a", 64) + `"}`,
			http.StatusBadRequest, "no upload"},
	} {
		code, body := send(t, srv, ci, "POST", "/v1/deploy", c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d and %q", c.name, code, body, c.code, c.want)
		}
	}
}

// A revoked token and an expired one get 401, with why.
func TestRevokedAndExpiredTokensGet401(t *testing.T) {
	srv, _ := tokenServer(t)
	ci := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleDeploy})
	if code, body := send(t, srv, ci, "GET", "/v1/apps", ""); code != http.StatusOK {
		t.Fatalf("before the revocation: %d %s", code, body)
	}
	code, body := send(t, srv, "t", "DELETE", "/v1/tokens/ci", "")
	if code != http.StatusOK || !strings.Contains(body, `"name": "ci"`) {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, body := send(t, srv, ci, "GET", "/v1/apps", ""); code != http.StatusUnauthorized || !strings.Contains(body, `token \"ci\" was revoked at`) {
		t.Errorf("the revoked token: %d %s, want 401 saying it was revoked", code, body)
	}
	if code, body := send(t, srv, "t", "DELETE", "/v1/tokens/ci", ""); code != http.StatusNotFound {
		t.Errorf("revoked again: %d %s, want 404", code, body)
	}

	short := create(t, srv, v1.TokenRequest{Name: "short", Role: v1.RoleRead, Expires: "1ms"})
	time.Sleep(5 * time.Millisecond)
	if code, body := send(t, srv, short, "GET", "/v1/apps", ""); code != http.StatusUnauthorized || !strings.Contains(body, `token \"short\" expired at 20`) {
		t.Errorf("the expired token: %d %s, want 401 saying when it expired", code, body)
	}
	if code, body := send(t, srv, "tend_nope", "GET", "/v1/apps", ""); code != http.StatusUnauthorized || !strings.Contains(body, "missing or wrong API token") {
		t.Errorf("an unknown token: %d %s", code, body)
	}
}

// The token file's token is an admin token, by bearer and by basic auth, and cannot be
// revoked nor taken as a name.
func TestTheTokenFileIsAnAdminToken(t *testing.T) {
	srv, _ := tokenServer(t)
	if code, body := send(t, srv, "t", "GET", "/v1/tokens", ""); code != http.StatusOK {
		t.Errorf("GET /v1/tokens with the token file's token: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/audit", nil)
	req.SetBasicAuth("tend", "t")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/audit by basic auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	ci := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleRead})
	req, _ = http.NewRequest("GET", srv.URL+"/v1/apps", nil)
	req.SetBasicAuth("tend", ci)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a scoped token by basic auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, body := send(t, srv, "t", "DELETE", "/v1/tokens/"+token.FileName, ""); code != http.StatusNotFound || !strings.Contains(body, "DATA/token") {
		t.Errorf("revoke the token file: %d %s", code, body)
	}
	if code, body := send(t, srv, "t", "POST", "/v1/tokens", `{"name": "token-file", "role": "admin"}`); code != http.StatusBadRequest {
		t.Errorf("a token named token-file: %d %s, want 400", code, body)
	}
	if code, body := send(t, srv, "t", "POST", "/v1/tokens", `{"name": "ci", "role": "read"}`); code != http.StatusConflict || !strings.Contains(body, "tend token revoke ci") {
		t.Errorf("a second ci: %d %s, want 409", code, body)
	}
}

// The audit log has every call, refused ones too, with its token, route (and the query
// of a call that changes something), app and status.
func TestTheAuditLogRecordsEveryCall(t *testing.T) {
	srv, _ := tokenServer(t)
	ci := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleRead})
	send(t, srv, ci, "GET", "/v1/apps/hello", "")
	send(t, srv, ci, "POST", "/v1/apps/hello/restart", "")
	send(t, srv, ci, "DELETE", "/v1/apps/hello?purge=1", "")
	send(t, srv, "", "GET", "/v1/apps", "")
	code, body := send(t, srv, "t", "GET", "/v1/audit?token=ci", "")
	var log v1.AuditLog
	if code != http.StatusOK || json.Unmarshal([]byte(body), &log) != nil {
		t.Fatalf("GET /v1/audit: %d %s", code, body)
	}
	type row struct {
		token, role, method, route, app string
		status                          int
	}
	var got []row
	for _, e := range log.Entries {
		got = append(got, row{e.Token, string(e.Role), e.Method, e.Route, e.App, e.Status})
		if e.At.IsZero() || e.Duration <= 0 || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
			t.Errorf("entry %+v: want its time, duration and the client's address", e)
		}
	}
	want := []row{{"ci", "read", "GET", "/v1/apps/{app}", "hello", 200}, {"ci", "read", "POST", "/v1/apps/{app}/{action}", "hello", 403},
		{"ci", "read", "DELETE", "/v1/apps/{app}?purge=1", "hello", 403}} // what it asked, not only where
	if !slices.Equal(got, want) {
		t.Errorf("the audit log of ci:\n%+v\nwant\n%+v", got, want)
	}
	_, body = send(t, srv, "t", "GET", "/v1/audit?limit=2", "")
	log = v1.AuditLog{}
	if err := json.Unmarshal([]byte(body), &log); err != nil || len(log.Entries) != 2 {
		t.Fatalf("GET /v1/audit?limit=2: %v %s", err, body)
	}
	first, last := log.Entries[0], log.Entries[1]
	if first.Token != "" || first.Status != http.StatusUnauthorized || first.Route != "/v1/apps" {
		t.Errorf("the call without a token: %+v", first)
	}
	if last.Token != token.FileName || last.Role != v1.RoleAdmin || last.Route != "/v1/audit" {
		t.Errorf("the previous GET /v1/audit: %+v", last)
	}
	if code, body := send(t, srv, "t", "GET", "/v1/audit?limit=many", ""); code != http.StatusBadRequest {
		t.Errorf("limit=many: %d %s", code, body)
	}
}

// Every /v1 route is in the role table, and the table has no route the API does not serve.
func TestEveryRouteHasARole(t *testing.T) {
	o := fullOptions(t)
	o.Tokens = &token.Keeper{}
	o.Uploads = &upload.Store{Dir: t.TempDir()}
	o.Prometheus, o.Alertmanager = http.NotFoundHandler(), http.NotFoundHandler()
	s := &server{o: o, c: o.Controller, log: slog.Default()}
	s.routes()
	registered := map[string]bool{}
	for _, e := range s.endpoints {
		p := e.method + " " + e.path
		registered[p] = true
		if _, ok := routeRoles[p]; !ok {
			t.Errorf("%s has no entry in routeRoles (roles.go): it needs admin until it has one", p)
		}
	}
	for p, r := range routeRoles {
		method, path, _ := strings.Cut(p, " ")
		mount := strings.HasPrefix(path, "/prometheus/") || strings.HasPrefix(path, "/alertmanager/")
		if !registered[p] && !mount {
			t.Errorf("routeRoles has %s, which no route registers", p)
		}
		if r.role != token.Read && r.what == "" {
			t.Errorf("%s needs %s and does not say what it does, for the 403", p, r.role)
		}
		if method == "GET" && r.role != token.Read && path != "/v1/tokens" && path != "/v1/audit" && !strings.HasPrefix(path, "/v1/uploads/") {
			t.Errorf("GET %s needs %s: reads need read", path, r.role)
		}
	}
	if r := ruleOf("PATCH", "PATCH /v1/new"); r.role != token.Admin || r.what != "PATCH /v1/new" {
		t.Errorf("a route not in the table: %+v, want admin", r)
	}
	if r := ruleOf("PUT", "/prometheus/"); r.role != token.Admin {
		t.Errorf("PUT under /prometheus/: %+v, want admin", r)
	}
	if r := ruleOf("POST", "/prometheus/"); r.role != token.Read {
		t.Errorf("a query by POST: %+v, want read", r)
	}
}

// The mounts: a read token queries Prometheus (GET or POST) and reads the Alertmanager,
// but does not change its silences.
func TestTheMountsNeedTheirRoles(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := token.Open(st, slog.New(slog.DiscardHandler))
	defer func() { k.Close(); st.Close() }()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Method+" "+r.URL.Path) })
	srv := httptest.NewServer(Handler(Options{Token: "t", Tokens: k, Prometheus: ok, Alertmanager: ok}))
	defer srv.Close()
	read := create(t, srv, v1.TokenRequest{Name: "grafana", Role: v1.RoleRead})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/prometheus/api/v1/query?query=up", 200},
		{"POST", "/prometheus/api/v1/query", 200},
		{"GET", "/alertmanager/api/v2/silences", 200},
		{"HEAD", "/prometheus/api/v1/status/buildinfo", 200},
		{"POST", "/alertmanager/api/v2/silences", 403},
		{"DELETE", "/alertmanager/api/v2/silence/1", 403},
		{"PUT", "/prometheus/api/v1/admin", 403},
	} {
		if code, body := send(t, srv, read, c.method, c.path, ""); code != c.want {
			t.Errorf("%s %s with a read token: %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	if code, body := send(t, srv, "t", "POST", "/alertmanager/api/v2/silences", ""); code != 200 {
		t.Errorf("a silence with the token file's token: %d %s", code, body)
	}
}

// The token routes' requests and answers, errors too, are what the OpenAPI document says.
func TestTheTokenRoutesMatchTheDescription(t *testing.T) {
	srv, _ := tokenServer(t)
	c := newChecker(t, srv)
	for _, r := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/v1/tokens", `{"name": "ci", "role": "deploy", "apps": ["hello"], "expires": "90d"}`, 201},
		{"POST", "/v1/tokens", `{"name": "ci", "role": "read"}`, 409},
		{"POST", "/v1/tokens", `{"name": "ops", "role": "read", "expires": "soon"}`, 400},
		{"GET", "/v1/tokens", "", 200},
		{"DELETE", "/v1/tokens/ci", "", 200},
		{"DELETE", "/v1/tokens/ci", "", 404},
		{"GET", "/v1/audit?limit=5&token=token-file", "", 200},
	} {
		if code, body := c.call(r.method, r.path, r.body, 0); code != r.code {
			t.Errorf("%s %s: %d %s, want %d", r.method, r.path, code, body, r.code)
		}
	}
}

// A deploy whose stream began with 200 and ended with an error is recorded with it.
func TestTheAuditLogRecordsAFailedDeploy(t *testing.T) {
	srv, _ := tokenServer(t)
	ci := create(t, srv, v1.TokenRequest{Name: "ci", Role: v1.RoleAdmin})
	code, body := send(t, srv, ci, "POST", "/v1/deploy", `{"file": "/srv/hello/tend.yaml", "source": "app: hello\nbuild: {binary: /bin/hello}\nenv: {DB: {secret: nope}}\n"}`)
	if code != http.StatusOK || !strings.Contains(body, `"error"`) {
		t.Fatalf("a deploy of a spec with a missing secret: %d %s, want a stream that ends with an error", code, body)
	}
	_, body = send(t, srv, "t", "GET", "/v1/audit?token=ci", "")
	var log v1.AuditLog
	if err := json.Unmarshal([]byte(body), &log); err != nil || len(log.Entries) == 0 {
		t.Fatalf("GET /v1/audit: %v %s", err, body)
	}
	if len(log.Entries) != 1 {
		t.Errorf("entries of ci: %+v, want the deploy alone", log.Entries)
	}
	e := log.Entries[len(log.Entries)-1]
	if e.Route != "/v1/deploy" || e.Status != 200 || e.ErrorCode != http.StatusBadRequest || !strings.Contains(e.Error, "nope") {
		t.Errorf("the failed deploy's entry: %+v, want status 200, errorCode 400 and the error naming the secret", e)
	}
}

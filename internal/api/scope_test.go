package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/token"
)

// A token for some apps sees the routes and certificates of those apps only, and its
// Prometheus queries select their series only; what spans apps is refused.
func TestATokenForAnAppSeesThatAppOnly(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k := token.Open(st, slog.New(slog.DiscardHandler))
	defer func() { k.Close(); st.Close() }()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		fmt.Fprintf(w, "%s query=%s match=%s", r.URL.Path, r.Form.Get("query"), strings.Join(r.Form["match[]"], " "))
	})
	srv := httptest.NewServer(Handler(Options{Token: "t", Tokens: k, Prometheus: echo, Alertmanager: echo,
		Gateway: func() []gateway.AppState { return []gateway.AppState{{App: "hello"}, {App: "shop"}} },
		Certs: func(context.Context) ([]store.Certificate, error) {
			return []store.Certificate{{Host: "hello.test", App: "hello"}, {Host: "shop.test", App: "shop"}, {Host: "tend.test", App: "(server)"}}, nil
		}}))
	defer srv.Close()
	hello := create(t, srv, v1.TokenRequest{Name: "hello-read", Role: v1.RoleRead, Apps: []string{"hello"}})
	all := create(t, srv, v1.TokenRequest{Name: "grafana", Role: v1.RoleRead})

	var routes []v1.Route
	if code, body := send(t, srv, hello, "GET", "/v1/gateway", ""); code != 200 || json.Unmarshal([]byte(body), &routes) != nil || len(routes) != 1 || routes[0].App != "hello" {
		t.Errorf("GET /v1/gateway with a token for hello: %d %s, want hello's route alone", code, body)
	}
	var certs []v1.Certificate
	if code, body := send(t, srv, hello, "GET", "/v1/certs", ""); code != 200 || json.Unmarshal([]byte(body), &certs) != nil || len(certs) != 1 || certs[0].Host != "hello.test" {
		t.Errorf("GET /v1/certs with a token for hello: %d %s, want hello.test alone", code, body)
	}
	if _, body := send(t, srv, all, "GET", "/v1/certs", ""); !strings.Contains(body, "shop.test") || !strings.Contains(body, "tend.test") {
		t.Errorf("GET /v1/certs with a token for every app: %s", body)
	}

	q := url.QueryEscape(`sum(rate(http_requests_total{app="shop"}[5m])) / sum(rate(http_requests_total[5m]))`)
	for _, c := range []struct {
		tok, method, path, body string
		code                    int
		want                    []string
	}{
		{hello, "GET", "/prometheus/api/v1/query?query=" + q, "", 200,
			[]string{`http_requests_total{app="shop",app=~"hello"}[5m]`, `http_requests_total{app=~"hello"}[5m]`}},
		{hello, "POST", "/prometheus/api/v1/query_range", "query=up&start=1&end=2&step=1", 200, []string{`query=up{app=~"hello"}`}},
		{hello, "GET", "/prometheus/api/v1/series", "", 200, []string{`match={app=~"hello"}`}},
		{hello, "GET", "/prometheus/api/v1/label/instance/values?match[]=up", "", 200, []string{`match={__name__="up",app=~"hello"}`}},
		{hello, "GET", "/prometheus/api/v1/query?query=" + url.QueryEscape("sum("), "", 400, []string{"query: "}},
		{hello, "GET", "/prometheus/federate?match[]=" + url.QueryEscape(`{job="tend"}`), "", 200, []string{`match={job="tend",app=~"hello"}`}},
		{hello, "GET", "/prometheus/api/v1/targets", "", 403, []string{"spans every app"}},
		{hello, "GET", "/prometheus/api/v1/rules", "", 403, []string{"spans every app"}},
		{hello, "GET", "/alertmanager/api/v2/alerts", "", 403, []string{`token \"hello-read\" may see hello only`}},
		{all, "GET", "/prometheus/api/v1/query?query=up", "", 200, []string{"query=up match="}},
		{all, "GET", "/alertmanager/api/v2/alerts", "", 200, nil},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.tok)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b := string(raw)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, b, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(b, w) {
				t.Errorf("%s %s: %s, want %s in it", c.method, c.path, b, w)
			}
		}
	}
}

// A token for one app sees none of another app's incidents, not even by number.
func TestATokenForAnAppSeesItsIncidentsOnly(t *testing.T) {
	srv, _ := tokenServer(t)
	if _, err := (&Client{Base: srv.URL, Token: "t"}).SetRemediation(context.Background(), false, "test"); err != nil {
		t.Fatal(err)
	}
	if code, body := send(t, srv, "t", "POST", "/v1/incidents/alerts", `{"version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
		"receiver": "tend-incidents", "groupLabels": {"alertname": "HighErrorRate"}, "commonLabels": {"alertname": "HighErrorRate", "app": "hello"},
		"alerts": [{"status": "firing", "fingerprint": "f1", "labels": {"alertname": "HighErrorRate", "app": "hello"}, "startsAt": "2026-12-01T09:00:00Z"}]}`); code != http.StatusNoContent {
		t.Fatalf("POST /v1/incidents/alerts: %d %s", code, body)
	}
	_, body := send(t, srv, "t", "GET", "/v1/incidents?all=1", "")
	var list []v1.Incident
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) == 0 {
		t.Fatalf("the admin token sees no incident: %v %s", err, body)
	}
	other := "shop"
	if list[0].App == "shop" {
		other = "hello"
	}
	tok := create(t, srv, v1.TokenRequest{Name: other + "-read", Role: v1.RoleRead, Apps: []string{other}})
	_, body = send(t, srv, tok, "GET", "/v1/incidents?all=1", "")
	var mine []v1.Incident
	if err := json.Unmarshal([]byte(body), &mine); err != nil {
		t.Fatal(err)
	}
	for _, in := range mine {
		if in.App != other {
			t.Errorf("a token for %s sees incident %d of %q", other, in.ID, in.App)
		}
	}
	path := fmt.Sprintf("/v1/incidents/%d", list[0].ID)
	if code, body := send(t, srv, tok, "GET", path, ""); code != http.StatusNotFound {
		t.Errorf("GET %s (%s's) with a token for %s: %d %s, want 404", path, list[0].App, other, code, body)
	}
	if code, _ := send(t, srv, tok, "GET", path+"/postmortem", ""); code != http.StatusNotFound {
		t.Errorf("GET %s/postmortem with a token for %s: %d, want 404", path, other, code)
	}
}

package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestEveryRouteNeedsTheToken(t *testing.T) {
	prom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "prometheus "+r.URL.Path) })
	srv := httptest.NewServer(Handler(Options{Token: "s3cret", Prometheus: prom}))
	defer srv.Close()
	for _, c := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"no token", func(*http.Request) {}, 401},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }, 200},
		{"basic with the token as password", func(r *http.Request) { r.SetBasicAuth("tend", "s3cret") }, 200},
		{"basic with another password", func(r *http.Request) { r.SetBasicAuth("s3cret", "x") }, 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/prometheus/api/v1/query", nil)
		c.set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
		if c.want == 200 && string(body) != "prometheus /api/v1/query" {
			t.Errorf("%s: the Prometheus API got %q, want its own path without /prometheus", c.name, body)
		}
	}
}

package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDashboardLoadsWithoutTheTokenButTheAPIDoesNot(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Token: "secret", Version: "v1.2.3"}))
	defer srv.Close()
	get := func(path, token string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for path, want := range map[string]string{"/": "text/html", "/ui/app.js": "javascript", "/ui/style.css": "text/css"} {
		resp, body := get(path, "")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), want) || body == "" {
			t.Errorf("GET %s without a token: %d %q, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: no content security policy", path)
		}
	}
	if resp, _ := get("/ui/missing.js", ""); resp.StatusCode != 404 {
		t.Errorf("GET /ui/missing.js: %d, want 404", resp.StatusCode)
	}
	if resp, _ := get("/v1/version", ""); resp.StatusCode != 401 {
		t.Errorf("GET /v1/version without a token: %d, want 401", resp.StatusCode)
	}
	if resp, body := get("/v1/version", "secret"); resp.StatusCode != 200 || !strings.Contains(body, "v1.2.3") {
		t.Errorf("GET /v1/version with the token: %d %s", resp.StatusCode, body)
	}
}

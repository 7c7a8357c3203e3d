package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

func TestAnAppInMaintenanceIsAnsweredByTheGateway(t *testing.T) {
	b := startBackend(t, "b", nil)
	m := &route.Maintenance{Message: "Back at <14:00> UTC", RetryAfter: 300}
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/", Maintenance: m}}, []store.Endpoint{b.endpoint("hello", 1)})
	get := func(method, accept string) (*http.Response, string) {
		req, _ := http.NewRequest(method, url+"/", strings.NewReader(""))
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	resp, body := get("GET", "text/html,application/xhtml+xml,*/*;q=0.8")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "300" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "Back at &lt;14:00&gt; UTC") {
		t.Errorf("a browser's GET: %d Retry-After %q %s\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
	resp, body = get("POST", "application/json")
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(body, `"message":"Back at \u003c14:00\u003e UTC"`) || !strings.Contains(body, `"retryAfterSeconds":300`) {
		t.Errorf("a JSON client's POST: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("the instance got %d requests in maintenance, want none", n)
	}
}

func TestAnAppScaledToZeroSaysSo(t *testing.T) {
	m := &route.Maintenance{ScaledToZero: true}
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/", Maintenance: m}}, nil)
	for _, accept := range []string{"text/html", "application/json"} {
		req, _ := http.NewRequest("GET", url+"/", nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(body), "hello is scaled to zero") || strings.Contains(string(body), "maintenance") {
			t.Errorf("Accept %s: %d\n%s", accept, resp.StatusCode, body)
		}
	}
}

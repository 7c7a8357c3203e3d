package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

func TestMirrorCopiesStableRequestsToTheCanaryAndDiscardsItsAnswers(t *testing.T) {
	stable := startBackend(t, "stable", nil)
	copies := make(chan *http.Request, 100)
	canary := startBackend(t, "canary", func(w http.ResponseWriter, r *http.Request) {
		copies <- r
		w.WriteHeader(http.StatusInternalServerError) // the user never sees this
	})
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/",
		Splits: []route.Split{{Revision: 1, Weight: 100}}, Mirror: 2, MirrorPercent: 100,
	}}, []store.Endpoint{stable.endpoint("hello", 1), canary.endpoint("hello", 2)})
	defer g.mirrorClient.CloseIdleConnections()
	for i := 0; i < 20; i++ {
		if code, body, _ := do(t, "GET", url+"/items?page=2", "Host", "shop.test"); code != 200 || body != "stable" {
			t.Fatalf("GET: %d %q, want the stable revision's 200", code, body)
		}
	}
	if code, _, _ := do(t, "POST", url+"/items"); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	for i := 0; i < 20; i++ {
		select {
		case r := <-copies:
			if r.Method != "GET" || r.URL.RequestURI() != "/items?page=2" || r.Host != "shop.test" || r.Header.Get("X-Tend-Mirror") != "1" {
				t.Fatalf("copy %d: %s %s host %s mirror header %q", i, r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Tend-Mirror"))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 20 GET requests were copied to the canary", i)
		}
	}
	// the POST is not copied: mirroring must not repeat side effects
	select {
	case r := <-copies:
		t.Fatalf("a %s was copied", r.Method)
	case <-time.After(200 * time.Millisecond):
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(g.metrics.mirrored.WithLabelValues("hello", "2", "500")) < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := testutil.ToFloat64(g.metrics.mirrored.WithLabelValues("hello", "2", "500")); n != 20 {
		t.Errorf("mirrored requests counted: %v, want 20", n)
	}
	// user traffic metrics hold the users' requests only: nothing for revision 2
	if n := testutil.CollectAndCount(g.metrics.requests, "tend_gateway_requests_total"); n != 2 {
		t.Errorf("%d request series, want 2 (GET and POST on revision 1 only)", n)
	}
}

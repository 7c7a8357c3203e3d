package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/kit/route"
)

func TestCountsByRoutePatternNotRawPath(t *testing.T) {
	m := New()
	mux := route.NewMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := route.Track(m.Middleware(mux))
	for _, p := range []string{"/users/123", "/users/456", "/nope"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("GET /users/{id}", "GET", "200")); n != 2 {
		t.Errorf("GET /users/{id}: %v requests, want 2", n)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("unmatched", "GET", "404")); n != 1 {
		t.Errorf("unmatched: %v, want 1", n)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	if strings.Contains(body, "/users/123") || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Errorf("exposition has a raw path or lacks the Go/process collectors")
	}
}

func ExampleMetrics_Counter() {
	m := New()
	orders := m.Counter("orders_created_total", "Orders created, by channel.", "channel")
	orders.WithLabelValues("web").Inc()
	fmt.Println(testutil.ToFloat64(orders.WithLabelValues("web")))
	// Output: 1
}

func TestPanicCountsAs500(t *testing.T) {
	m := New()
	mux := route.NewMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := route.Track(m.Middleware(mux))
	func() {
		defer func() { _ = recover() }() // an outer middleware.Recover in a service
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/boom", nil))
	}()
	if n := testutil.ToFloat64(m.requests.WithLabelValues("GET /boom", "GET", "500")); n != 1 {
		t.Errorf("panicking GET /boom counted as 500 %v times, want 1", n)
	}
}

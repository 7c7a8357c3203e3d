package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ready(t *testing.T, c *Checker) (int, Report) {
	t.Helper()
	w := httptest.NewRecorder()
	c.ReadyHandler().ServeHTTP(w, httptest.NewRequest("GET", "/ready", nil))
	var r Report
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return w.Code, r
}

func TestReadinessNamesEachCheckAndTimesOut(t *testing.T) {
	c := New()
	c.CacheFor = 0
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	c.Add("tcp", time.Second, TCP(ln.Addr().String()))
	c.Add("http", time.Second, HTTP(nil, up.URL))
	c.Add("slow", 50*time.Millisecond, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	c.Add("broken", time.Second, func(context.Context) error { return errors.New("disk full") })
	code, r := ready(t, c)
	if code != 503 || r.Checks["tcp"].Status != "ok" || r.Checks["http"].Status != "ok" ||
		r.Checks["slow"].Error != "no answer within 50ms" || r.Checks["broken"].Error != "disk full" {
		t.Fatalf("%d %+v", code, r)
	}
}

func TestCacheAndShutdown(t *testing.T) {
	c := New()
	c.CacheFor = time.Hour
	var calls atomic.Int32
	c.Add("db", time.Second, func(context.Context) error { calls.Add(1); return nil })
	for i := 0; i < 5; i++ {
		if code, _ := ready(t, c); code != 200 {
			t.Fatal(code)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("check ran %d times within the cache period", calls.Load())
	}
	c.ShuttingDown()
	if code, r := ready(t, c); code != 503 || r.Status != "shutting down" {
		t.Fatalf("during shutdown: %d %+v", code, r)
	}
	w := httptest.NewRecorder()
	c.LiveHandler().ServeHTTP(w, httptest.NewRequest("GET", "/health", nil))
	if w.Code != 200 {
		t.Fatalf("liveness failed during shutdown: %d", w.Code)
	}
}

func ExampleChecker() {
	c := New()
	c.Add("cache", time.Second, func(ctx context.Context) error { return nil })
	mux := http.NewServeMux()
	mux.Handle("GET /health", c.LiveHandler())
	mux.Handle("GET /ready", c.ReadyHandler())
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/ready", nil))
	fmt.Println(w.Code)
	// Output: 200
}

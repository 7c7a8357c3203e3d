package middleware

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); fmt.Fprint(w, "ok") })

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRateLimitAnswers429WithRetryAfterAfterTheBurst(t *testing.T) {
	h := RateLimit(RateLimitOptions{PerSecond: 1, Burst: 3})(ok)
	codes := []int{}
	for i := 0; i < 5; i++ {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.1:1000"
		w := serve(h, r)
		codes = append(codes, w.Code)
		if w.Code == 429 && w.Header().Get("Retry-After") != "1" {
			t.Errorf("429 without Retry-After: %v", w.Header())
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Fatalf("codes %v, want the burst of 3 then 429", codes)
	}
	other := httptest.NewRequest("GET", "/", nil)
	other.RemoteAddr = "192.0.2.2:1000"
	if serve(h, other).Code != 200 {
		t.Fatal("another client was limited by the first one's bucket")
	}
}

func TestRateLimitForgetsOldClients(t *testing.T) {
	mw := RateLimit(RateLimitOptions{PerSecond: 0.001, Burst: 1, MaxClients: 2})
	h := mw(ok)
	hit := func(ip string) int {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = ip + ":1"
		return serve(h, r).Code
	}
	hit("10.0.0.1")
	hit("10.0.0.2")
	hit("10.0.0.3") // evicts 10.0.0.1
	if hit("10.0.0.1") != 200 {
		t.Fatal("an evicted client kept its empty bucket: the LRU is not bounded")
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	h := Chain(ok, SecurityHeaders(""), CORS(CORSOptions{Origins: []string{"https://app.example"}, MaxAge: time.Hour}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://app.example")
	w := serve(h, r)
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" ||
		w.Header().Get("Content-Security-Policy") != "default-src 'self'" || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("headers %v", w.Header())
	}
	pre := httptest.NewRequest("OPTIONS", "/", nil)
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "PUT")
	if w := serve(h, pre); w.Code != 204 || !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "PUT") || w.Header().Get("Access-Control-Max-Age") != "3600" {
		t.Fatalf("preflight %d %v", w.Code, w.Header())
	}
	evil := httptest.NewRequest("OPTIONS", "/", nil)
	evil.Header.Set("Origin", "https://evil.example")
	evil.Header.Set("Access-Control-Request-Method", "PUT")
	if w := serve(h, evil); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from an unknown origin: %d %v", w.Code, w.Header())
	}
}

func TestRecoverRequestIDBodyLimitTimeout(t *testing.T) {
	var logs bytes.Buffer
	panicky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	w := serve(Chain(panicky, Recover(slog.New(slog.NewJSONHandler(&logs, nil))), RequestID), httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "goroutine") || len(w.Header().Get("X-Request-Id")) != 24 {
		t.Fatalf("recover: %d %q %q", w.Code, w.Header().Get("X-Request-Id"), logs.String())
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "abc-123")
	if w := serve(RequestID(ok), r); w.Header().Get("X-Request-Id") != "abc-123" {
		t.Fatal("incoming request id not kept")
	}
	big := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 100)))
	if w := serve(BodyLimit(10)(ok), big); w.Code != 413 {
		t.Fatalf("body limit: %d", w.Code)
	}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	if w := serve(Timeout(20*time.Millisecond)(slow), httptest.NewRequest("GET", "/", nil)); w.Code != 503 {
		t.Fatalf("timeout: %d", w.Code)
	}
}

func ExampleChain() {
	h := Chain(ok, RequestID, SecurityHeaders("default-src 'self'"), BodyLimit(1<<20))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(w.Code, w.Header().Get("X-Frame-Options"))
	// Output: 200 DENY
}

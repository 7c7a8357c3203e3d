package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestAnswersWithRevisionAndInstance(t *testing.T) {
	s, err := load(env(map[string]string{"TEND_APP": "hello", "TEND_REVISION": "3", "TEND_INSTANCE": "hello-3-a"}))
	if err != nil {
		t.Fatal(err)
	}
	w := get(t, routes(s, slog.Default()), "/")
	if w.Code != 200 || w.Header().Get("X-Revision") != "3" || !strings.Contains(w.Body.String(), "revision 3 instance hello-3-a") {
		t.Fatalf("GET /: %d %q %q", w.Code, w.Header().Get("X-Revision"), w.Body.String())
	}
	if _, ok := checks(s, time.Now()).Ready(t.Context()); !ok {
		t.Fatal("not ready without fault knobs")
	}
}

func TestFaultKnobs(t *testing.T) {
	s, err := load(env(map[string]string{"FAULT_ERROR_RATE": "1", "FAULT_STARTUP_DELAY": "1h"}))
	if err != nil {
		t.Fatal(err)
	}
	if get(t, routes(s, slog.Default()), "/").Code != 500 {
		t.Error("FAULT_ERROR_RATE=1 did not fail the request")
	}
	if _, ok := checks(s, time.Now()).Ready(t.Context()); ok {
		t.Error("ready during FAULT_STARTUP_DELAY")
	}
	s, _ = load(env(map[string]string{"FAULT_NEVER_READY": "1"}))
	if _, ok := checks(s, time.Now()).Ready(t.Context()); ok {
		t.Error("ready with FAULT_NEVER_READY=1")
	}
	s, _ = load(env(map[string]string{"FAULT_LATENCY": "50ms"}))
	start := time.Now()
	get(t, routes(s, slog.Default()), "/")
	if time.Since(start) < 50*time.Millisecond {
		t.Error("FAULT_LATENCY not applied")
	}
	for _, bad := range []map[string]string{{"FAULT_ERROR_RATE": "2"}, {"FAULT_LATENCY": "soon"}} {
		if _, err := load(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// HELLO_CALL_URL makes / call it, with HELLO_CALL_HOST as the Host, and answer with what
// it said; a failed call is a 502 naming the URL.
func TestRootCallsTheURLItIsGiven(t *testing.T) {
	var host string
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host = r.Host
		w.Write([]byte("hello from back\n"))
	}))
	defer back.Close()
	s, err := load(env(map[string]string{"HELLO_CALL_URL": back.URL + "/", "HELLO_CALL_HOST": "back", "TEND_REVISION": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	w := get(t, routes(s, slog.Default()), "/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "called: hello from back") || host != "back" {
		t.Errorf("/ with HELLO_CALL_URL: %d %q, Host %q", w.Code, w.Body.String(), host)
	}
	back.Close()
	if w := get(t, routes(s, slog.Default()), "/"); w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), back.URL) {
		t.Errorf("/ when the call fails: %d %q, want 502 naming the URL", w.Code, w.Body.String())
	}
}

package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestAnswersWithRevisionAndInstance(t *testing.T) {
	cfg, err := configFromEnv(env(map[string]string{"TEND_APP": "hello", "TEND_REVISION": "3", "TEND_INSTANCE": "hello-3-a"}))
	if err != nil {
		t.Fatal(err)
	}
	h := (&service{cfg: cfg, started: time.Now()}).handler()
	w := get(t, h, "/")
	if w.Code != 200 || w.Header().Get("X-Revision") != "3" || !strings.Contains(w.Body.String(), "revision 3 instance hello-3-a") {
		t.Fatalf("GET /: %d %q %q", w.Code, w.Header().Get("X-Revision"), w.Body.String())
	}
	if get(t, h, "/health").Code != 200 || get(t, h, "/ready").Code != 200 {
		t.Fatal("health or ready not 200")
	}
}

func TestFaultKnobs(t *testing.T) {
	cfg, err := configFromEnv(env(map[string]string{"FAULT_ERROR_RATE": "1", "FAULT_STARTUP_DELAY": "1h"}))
	if err != nil {
		t.Fatal(err)
	}
	s := &service{cfg: cfg, started: time.Now()}
	h := s.handler()
	if get(t, h, "/").Code != 500 {
		t.Error("FAULT_ERROR_RATE=1 did not fail the request")
	}
	if get(t, h, "/ready").Code != 503 {
		t.Error("ready during FAULT_STARTUP_DELAY")
	}
	cfg, _ = configFromEnv(env(map[string]string{"FAULT_NEVER_READY": "1"}))
	if get(t, (&service{cfg: cfg}).handler(), "/ready").Code != 503 {
		t.Error("ready with FAULT_NEVER_READY=1")
	}
	s2 := &service{cfg: config{}, started: time.Now()}
	s2.draining.Store(true)
	if get(t, s2.handler(), "/ready").Code != 503 {
		t.Error("ready while draining")
	}
	cfg, _ = configFromEnv(env(map[string]string{"FAULT_LATENCY": "50ms"}))
	start := time.Now()
	get(t, (&service{cfg: cfg}).handler(), "/")
	if time.Since(start) < 50*time.Millisecond {
		t.Error("FAULT_LATENCY not applied")
	}
	for _, bad := range []map[string]string{{"FAULT_ERROR_RATE": "2"}, {"FAULT_LATENCY": "soon"}} {
		if _, err := configFromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

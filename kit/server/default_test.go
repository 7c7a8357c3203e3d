package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kitlog "github.com/tendhq/tend/kit/log"
	"github.com/tendhq/tend/kit/route"
)

// syncBuffer is a log sink the handlers and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records are the JSON log lines whose msg is msg.
func (s *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line not JSON: %q", l)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestDefaultRunsEveryLayerAndDrainsOnSIGTERM(t *testing.T) {
	logs := &syncBuffer{}
	mux := route.NewMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.PathValue("id")) })
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		fmt.Fprint(w, "slow done")
	})
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Default(context.Background(), Options{Handler: mux, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			Service: "svc", Logger: kitlog.New(kitlog.Options{Service: "svc", Writer: logs}),
			DrainDelay: 300 * time.Millisecond, ShutdownTimeout: 5 * time.Second, RequestTimeout: 2 * time.Second,
			Ready: func(public, admin string) { ready <- [2]string{public, admin} }})
	}()
	var public, admin string
	select {
	case a := <-ready:
		public, admin = "http://"+a[0], "http://"+a[1]
	case err := <-done:
		t.Fatalf("Default returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Default never became ready")
	}

	// request id, security headers, route pattern, access log, trace id
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	resp, body := get(t, public+"/users/7", "Traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || body != "7" || id == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET /users/7: %d %q, headers %v", resp.StatusCode, body, resp.Header)
	}
	if r := logs.records(t, "request"); len(r) != 1 || r[0]["route"] != "GET /users/{id}" || r[0]["request_id"] != id ||
		r[0]["trace_id"] != traceID || r[0]["status"] != float64(200) || r[0]["service"] != "svc" {
		t.Errorf("access log %v, want one line with the route, request id %s and trace id", r, id)
	}

	// a panic: 500 with a request id, logged with its stack, logged and counted as 500
	resp, _ = get(t, public+"/panic")
	pid := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || pid == "" {
		t.Fatalf("GET /panic: %d, request id %q; want 500 with an id", resp.StatusCode, pid)
	}
	if p := logs.records(t, "panic serving request"); len(p) != 1 || p[0]["request_id"] != pid || !strings.Contains(fmt.Sprint(p[0]["stack"]), "default_test.go") {
		t.Errorf("panic log %v, want one record with the request id and the stack", p)
	}
	if r := logs.records(t, "request"); len(r) != 2 || r[1]["route"] != "GET /panic" || r[1]["status"] != float64(500) {
		t.Errorf("access log %v, want the panic's line with status 500", r)
	}

	// the timeout, innermost: 503, still logged
	start := time.Now()
	if resp, _ = get(t, public+"/hang"); resp.StatusCode != 503 || time.Since(start) < 2*time.Second {
		t.Errorf("GET /hang: %d after %s, want 503 after the 2s timeout", resp.StatusCode, time.Since(start))
	}

	// health bypasses the chain; metrics on the admin port name routes and codes
	if resp, _ = get(t, public+"/ready"); resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "" {
		t.Errorf("/ready: %d %v, want 200 outside the middleware", resp.StatusCode, resp.Header)
	}
	_, m := get(t, admin+"/metrics")
	for _, want := range []string{`http_requests_total{code="200",method="GET",route="GET /users/{id}"} 1`,
		`http_requests_total{code="500",method="GET",route="GET /panic"} 1`,
		`http_requests_total{code="503",method="GET",route="GET /hang"} 1`, "build_info{"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, `route="GET /ready"`) {
		t.Error("/ready went through the metrics middleware")
	}

	// SIGTERM: readiness off, the in-flight request finishes, Default returns nil
	slow := getLater(public + "/slow")
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if resp, _ = get(t, public+"/ready"); resp.StatusCode != 503 {
		t.Errorf("/ready during the drain: %d, want 503", resp.StatusCode)
	}
	if got := <-slow; got != "slow done" {
		t.Errorf("in-flight request: %q, want it completed", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Default: %v, want nil after a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Default did not return after SIGTERM")
	}
	if _, err := http.Get(public + "/users/1"); err == nil {
		t.Error("still serving after shutdown")
	}
}

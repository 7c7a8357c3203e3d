package log

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/tendhq/tend/kit/clientip"
	"github.com/tendhq/tend/kit/route"
)

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestTraceIDsServiceAndLevel(t *testing.T) {
	var b bytes.Buffer
	l := New(Options{Service: "hello", Version: "v1", Level: "warn", Writer: &b})
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: 1}))
	l.InfoContext(ctx, "dropped by level")
	l.WarnContext(ctx, "kept", "k", 1)
	got := lines(t, &b)
	if len(got) != 1 || got[0]["trace_id"] != tid.String() || got[0]["span_id"] != sid.String() || got[0]["service"] != "hello" || got[0]["version"] != "v1" {
		t.Fatalf("log lines %v", got)
	}
}

func TestAccessLogNamesRouteAndTrustedClientIP(t *testing.T) {
	var b bytes.Buffer
	l := New(Options{Service: "hello", Writer: &b})
	ips, _ := clientip.New("127.0.0.1")
	mux := route.NewMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); w.Write([]byte("ok")) })
	h := route.Track(AccessLog(l, ips)(mux))
	req := httptest.NewRequest("GET", "/users/123", nil)
	req.RemoteAddr = "127.0.0.1:999"
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	h.ServeHTTP(httptest.NewRecorder(), req)
	got := lines(t, &b)[0]
	if got["route"] != "GET /users/{id}" || got["status"] != float64(201) || got["bytes"] != float64(2) || got["client_ip"] != "198.51.100.7" {
		t.Fatalf("access log %v", got)
	}
}

func TestAudit(t *testing.T) {
	var b bytes.Buffer
	Audit(context.Background(), New(Options{Writer: &b}), "alice", "delete", "user/42")
	if got := lines(t, &b)[0]; got["audit"] != true || got["actor"] != "alice" || got["object"] != "user/42" {
		t.Fatalf("audit %v", got)
	}
}

func ExampleNew() {
	logger := New(Options{Service: "hello", Version: "v1.0.0", Level: "info", Writer: os.Stdout})
	logger.Info("started", "port", 8080)
}

func TestAccessLogLogsAPanicAs500(t *testing.T) {
	var b bytes.Buffer
	l := New(Options{Service: "hello", Writer: &b})
	mux := route.NewMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := route.Track(AccessLog(l, nil)(mux))
	func() {
		defer func() { _ = recover() }() // an outer middleware.Recover in a service
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/boom", nil))
	}()
	if got := lines(t, &b); len(got) != 1 || got[0]["route"] != "GET /boom" || got[0]["status"] != float64(500) {
		t.Fatalf("access log %v, want one line with status 500", got)
	}
}

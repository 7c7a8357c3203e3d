package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
)

// tend trace prints the span tree with each span's log lines under it, at their offsets,
// from the server's lines of the trace across apps.
func TestTraceShowsTheSpanTreeWithItsLogLines(t *testing.T) {
	const id = "0af7651916cd43dd8448eb211c80319c"
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tr := v1.Trace{TraceID: id, Spans: []v1.Span{
		{SpanID: "a1", Service: "tend-gateway", App: "front", Name: "GET front", Kind: v1.SpanServer, Start: ms(0), Duration: v1.Duration(42 * time.Millisecond),
			Attributes: map[string]any{"http.response.status_code": 200, "tend.revision": 3, "tend.instance": "front-3-ab12", "tend.upstream.duration_ms": 40.5}},
		{SpanID: "b1", ParentID: "a1", Service: "front", App: "front", Name: "GET /", Kind: v1.SpanServer, Start: ms(1), Duration: v1.Duration(39 * time.Millisecond),
			Attributes: map[string]any{"http.response.status_code": 200}, Resource: map[string]any{"service.instance.id": "front-3-ab12"}},
		{SpanID: "c1", ParentID: "b1", Service: "tend-gateway", App: "back", Name: "GET back", Kind: v1.SpanServer, Start: ms(10), Duration: v1.Duration(20 * time.Millisecond),
			Attributes: map[string]any{"http.response.status_code": 503}, Error: true, Message: "answered 503"},
		{SpanID: "d1", ParentID: "c1", Service: "back", App: "back", Name: "GET /slow", Kind: v1.SpanServer, Start: ms(11), Duration: v1.Duration(18 * time.Millisecond),
			Attributes: map[string]any{"http.response.status_code": 503}, Error: true},
	}}
	logs := []v1.LogLine{
		{App: "back", Instance: "back-1-cd34", Revision: 1, At: ms(20), Text: `{"time":"2026-12-01T09:00:00.020Z","level":"ERROR","msg":"no database","trace_id":"` + id + `"}`},
		{App: "front", Instance: "front-3-ab12", Revision: 3, At: ms(35), Text: `{"time":"2026-12-01T09:00:00.035Z","level":"WARN","msg":"back failed","trace_id":"` + id + `"}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(v1.VersionHeader, "1")
		switch {
		case r.URL.Path == "/v1/traces/"+id:
			json.NewEncoder(w).Encode(tr)
		case r.URL.Path == "/v1/traces/"+id+"/logs":
			json.NewEncoder(w).Encode(logs)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"trace", "00-" + id + "-00f067aa0ba902b7-01", "--api", srv.URL, "--token", "t"})
	if err := root.Execute(); err != nil {
		t.Fatalf("tend trace: %v\n%s", err, out.String())
	}
	golden := filepath.Join("testdata", "golden", "trace.table")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./internal/cli -run TestTrace -update writes it)", err)
	}
	if out.String() != string(b) {
		t.Errorf("tend trace printed:\n%s\nwant (%s):\n%s", out.String(), golden, b)
	}
}

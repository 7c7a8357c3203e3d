package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/trace"
)

// fixtureTrace is the trace traceFixture keeps: the gateway's span of a failed request
// to hello, hello's span under it, and shop's under that.
const fixtureTrace = "0af7651916cd43dd8448eb211c80319c"

func traceFixture(t *testing.T) *trace.Store {
	t.Helper()
	st, err := trace.Open(trace.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, _ := trace.ParseTraceID(fixtureTrace)
	now := time.Now().UTC().Truncate(time.Millisecond)
	span := func(n byte, parent byte, service string, start, d time.Duration, attrs map[string]any) trace.Span {
		s := trace.Span{Trace: id, ID: trace.SpanID{7, n}, Service: service, Name: "GET /", Kind: trace.KindServer,
			Start: now.Add(start), End: now.Add(start + d), Attributes: attrs}
		if parent != 0 {
			s.Parent = trace.SpanID{7, parent}
		}
		return s
	}
	gw := span(1, 0, "tend-gateway", 0, 120*time.Millisecond, map[string]any{"tend.app": "hello", "http.response.status_code": int64(502)})
	gw.Error, gw.Message = true, "answered 502"
	if err := st.Add([]trace.Span{gw, span(2, 1, "hello", 5*time.Millisecond, 100*time.Millisecond, nil),
		span(3, 2, "shop", 20*time.Millisecond, 60*time.Millisecond, nil)}); err != nil {
		t.Fatal(err)
	}
	return st
}

// Spans sent to the API in OTLP with a deploy token are kept and read back; a trace is
// listed by its app, status and duration; a token limited to an app sees that app's
// spans only, and says how many it may not see.
func TestTracesAreTakenListedAndScoped(t *testing.T) {
	srv, _ := tokenServer(t) // with traceFixture's trace
	ctx := context.Background()
	helloOnly := create(t, srv, v1.TokenRequest{Name: "hello-reader", Role: v1.RoleRead, Apps: []string{"hello"}})
	reader := create(t, srv, v1.TokenRequest{Name: "reader", Role: v1.RoleRead})

	// an SDK's export, in protobuf, of a new trace of shop
	id, _ := trace.ParseTraceID("4bf92f3577b34da6a3ce929d0e0e4736")
	b, err := trace.Marshal([]trace.Span{{Trace: id, ID: trace.SpanID{9, 1}, Service: "shop", Name: "GET /cart", Kind: trace.KindServer,
		Start: time.Now(), End: time.Now().Add(50 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(tok string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/traces", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(reader); code != http.StatusForbidden {
		t.Errorf("POST /v1/traces with a read token: %d, want 403", code)
	}
	if code := post("t"); code != http.StatusOK {
		t.Fatalf("POST /v1/traces: %d, want 200", code)
	}

	c := &Client{Base: srv.URL, Token: "t"}
	list, err := c.Traces(ctx, TraceFilter{})
	if err != nil || len(list) != 2 || list[0].TraceID != id.String() {
		t.Fatalf("GET /v1/traces: %v %+v, want the shop trace first, then the fixture's", err, list)
	}
	failed, err := c.Traces(ctx, TraceFilter{Status: "error", MinDuration: 100 * time.Millisecond})
	if err != nil || len(failed) != 1 || failed[0].TraceID != fixtureTrace || failed[0].Root.Status != 502 || failed[0].Spans != 3 {
		t.Fatalf("failed traces of 100ms or more: %v %+v, want the fixture's (502, 3 spans)", err, failed)
	}
	tr, err := c.Trace(ctx, fixtureTrace)
	if err != nil || len(tr.Spans) != 3 || tr.Spans[0].App != "hello" || tr.Spans[1].ParentID != tr.Spans[0].SpanID || tr.Spans[2].Service != "shop" {
		t.Fatalf("GET /v1/traces/{id}: %v %+v", err, tr)
	}

	scoped := &Client{Base: srv.URL, Token: helloOnly}
	if list, err := scoped.Traces(ctx, TraceFilter{}); err != nil || len(list) != 1 || list[0].TraceID != fixtureTrace {
		t.Errorf("a hello token lists %+v %v, want only the trace with hello's spans", list, err)
	}
	if _, err := scoped.Traces(ctx, TraceFilter{App: "shop"}); err == nil || !strings.Contains(err.Error(), "may not read shop") {
		t.Errorf("a hello token asking for shop's traces: %v, want refused", err)
	}
	tr, err = scoped.Trace(ctx, fixtureTrace)
	if err != nil || len(tr.Spans) != 2 || tr.Hidden != 1 {
		t.Errorf("a hello token reads the fixture trace: %v %+v, want hello's two spans and 1 hidden", err, tr)
	}
	if _, err := scoped.Trace(ctx, id.String()); err == nil {
		t.Error("a hello token read a trace of shop alone")
	}
	var raw v1.Trace
	if resp, err := http.Get(srv.URL + "/v1/traces/" + fixtureTrace); err == nil {
		json.NewDecoder(resp.Body).Decode(&raw)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a trace without a token: %d, want 401", resp.StatusCode)
		}
	}
}

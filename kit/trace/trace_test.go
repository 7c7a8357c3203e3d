package trace

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	kitlog "github.com/tendhq/tend/kit/log"
	"github.com/tendhq/tend/kit/route"
)

// receiver is an in-process OTLP/HTTP trace endpoint.
type receiver struct {
	mu    sync.Mutex
	spans map[string][]string // span name → trace IDs
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req collector.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", 400)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rc.spans[s.Name] = append(rc.spans[s.Name], hex.EncodeToString(s.TraceId))
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
	w.Write(out)
}

func TestTraceIDsInLogsMatchExportedSpansAcrossTwoServices(t *testing.T) {
	rc := &receiver{spans: map[string][]string{}}
	otlp := httptest.NewServer(rc)
	defer otlp.Close()
	shutdown, err := Setup(context.Background(), Options{Service: "test", Getenv: func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return otlp.URL
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := kitlog.New(kitlog.Options{Service: "b", Writer: &logs})

	// service B logs inside its handler
	muxB := route.NewMux()
	muxB.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "serving item")
	})
	b := httptest.NewServer(route.Track(Middleware(muxB)))
	defer b.Close()
	// service A calls B through the tracing transport
	client := &http.Client{Transport: Transport(nil)}
	muxA := route.NewMux()
	muxA.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", b.URL+"/items/7", nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		resp.Body.Close()
	})
	a := httptest.NewServer(route.Track(Middleware(muxA)))
	defer a.Close()

	resp, err := http.Get(a.URL + "/orders/1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /orders/1: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	traceID, _ := line["trace_id"].(string)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, name := range []string{"GET /orders/{id}", "HTTP GET", "GET /items/{id}"} {
		ids := rc.spans[name]
		if len(ids) != 1 || ids[0] != traceID {
			t.Errorf("span %q has trace IDs %v, want the log's trace_id %q (spans: %v)", name, ids, traceID, rc.spans)
		}
	}
}

func TestWithoutEndpointTracingIsANoOp(t *testing.T) {
	shutdown, err := Setup(context.Background(), Options{Service: "x", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	var got string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", "http://example.invalid/", nil)
		otelInject(req)
		got = req.Header.Get("traceparent")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !strings.Contains(got, "0af7651916cd43dd8448eb211c80319c") {
		t.Fatalf("incoming trace context not propagated without an exporter: %q", got)
	}
}
func otelInject(r *http.Request) {
	otel.GetTextMapPropagator().Inject(r.Context(), propagation.HeaderCarrier(r.Header))
}

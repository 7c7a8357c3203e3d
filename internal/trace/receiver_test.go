package trace

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"google.golang.org/protobuf/encoding/protojson"

	kittrace "github.com/tendhq/tend/kit/trace"
)

type collected struct {
	mu    sync.Mutex
	spans []Span
}

func (c *collected) add(s []Span) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, s...)
	return nil
}

// A kit service's spans, exported by the OpenTelemetry SDK as it would to any collector,
// arrive with their service, parent, status and attributes.
func TestTheReceiverTakesWhatTheOpenTelemetrySDKSends(t *testing.T) {
	var got collected
	srv := httptest.NewServer(&Receiver{Add: got.add})
	defer srv.Close()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}
	shutdown, err := kittrace.Setup(context.Background(), kittrace.Options{Service: "hello", Version: "v1", Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := otel.Tracer("test").Start(context.Background(), "GET /")
	_, child := otel.Tracer("test").Start(ctx, "query")
	child.SetAttributes(attribute.Int("rows", 3), attribute.String("db", "users"))
	child.SetStatus(codes.Error, "timeout")
	child.End()
	parent.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.spans) != 2 {
		t.Fatalf("%d spans arrived, want 2: %+v", len(got.spans), got.spans)
	}
	byName := map[string]Span{}
	for _, s := range got.spans {
		byName[s.Name] = s
	}
	q, p := byName["query"], byName["GET /"]
	if q.Service != "hello" || q.Parent != p.ID || q.Trace != p.Trace || !q.Error || q.Message != "timeout" ||
		q.Attributes["rows"] != int64(3) || q.Attributes["db"] != "users" || q.Duration() < 0 {
		t.Errorf("the child span arrived as %+v (parent %+v)", q, p)
	}
}

// JSON bodies and gzip, as collectors send them; what is no OTLP request is refused.
func TestTheReceiverTakesJSONAndGzipAndRefusesTheRest(t *testing.T) {
	var got collected
	srv := httptest.NewServer(&Receiver{Add: got.add, MaxBytes: 1 << 20})
	defer srv.Close()
	s := span(7, 1, 0, "hello", testTime, 5e6)
	body, err := protojson.Marshal(ToOTLP([]Span{s}))
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(body)
	zw.Close()
	post := func(ct, enc string, b []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", bytes.NewReader(b))
		req.Header.Set("Content-Type", ct)
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("application/json", "", body); code != 200 {
		t.Errorf("JSON: %d", code)
	}
	if code := post("application/json", "gzip", zipped.Bytes()); code != 200 {
		t.Errorf("gzip JSON: %d", code)
	}
	if len(got.spans) != 2 || got.spans[0].Trace != s.Trace || got.spans[1].Name != s.Name {
		t.Errorf("spans %+v", got.spans)
	}
	for _, c := range []struct {
		ct, enc string
		body    []byte
		want    int
	}{
		{"text/plain", "", body, http.StatusUnsupportedMediaType},
		{"application/x-protobuf", "", []byte("not protobuf at all \xff\xff"), http.StatusBadRequest},
		{"application/json", "br", body, http.StatusUnsupportedMediaType},
		{"application/json", "", []byte(strings.Repeat(" ", 2<<20)), http.StatusRequestEntityTooLarge},
	} {
		if code := post(c.ct, c.enc, c.body); code != c.want {
			t.Errorf("%s %s: %d, want %d", c.ct, c.enc, code, c.want)
		}
	}
}

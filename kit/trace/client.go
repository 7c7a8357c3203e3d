package trace

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// httpClient uploads spans as OTLP/HTTP protobuf. It replaces otlptracehttp's client,
// which would compile gRPC into every service that imports kit.
type httpClient struct {
	endpoint string
	headers  http.Header
	client   *http.Client
}

// newHTTPClient reads OTEL_EXPORTER_OTLP_HEADERS / _TRACES_HEADERS ("k=v,k2=v2") and
// OTEL_EXPORTER_OTLP_TIMEOUT / _TRACES_TIMEOUT (milliseconds, default 10000).
func newHTTPClient(endpoint string, getenv func(string) string) (*httpClient, error) {
	if _, err := url.ParseRequestURI(endpoint); err != nil {
		return nil, fmt.Errorf("OTLP endpoint %q: %w", endpoint, err)
	}
	c := &httpClient{endpoint: endpoint, headers: http.Header{}, client: &http.Client{Timeout: 10 * time.Second}}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		for _, kv := range strings.Split(getenv(name), ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				key, _ := url.QueryUnescape(strings.TrimSpace(k))
				val, _ := url.QueryUnescape(strings.TrimSpace(v))
				c.headers.Set(key, val)
			}
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"} {
		if v := getenv(name); v != "" {
			var ms int
			if _, err := fmt.Sscan(v, &ms); err != nil || ms <= 0 {
				return nil, fmt.Errorf("%s: want milliseconds, got %q", name, v)
			}
			c.client.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	return c, nil
}

func (c *httpClient) Start(context.Context) error { return nil }

func (c *httpClient) Stop(context.Context) error {
	c.client.CloseIdleConnections()
	return nil
}

func (c *httpClient) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	// an ExportTraceServiceRequest is field 1, repeated ResourceSpans; encoding it by hand
	// keeps the collector package, which carries gRPC service stubs, out of the build
	var body []byte
	for _, rs := range spans {
		b, err := proto.Marshal(rs)
		if err != nil {
			return err
		}
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendBytes(body, b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("export spans to %s: %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("export spans to %s: %s", c.endpoint, resp.Status)
	}
	return nil
}

package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tendhq/tend/kit/clientip"
	kitlog "github.com/tendhq/tend/kit/log"
	"github.com/tendhq/tend/kit/metrics"
	"github.com/tendhq/tend/kit/middleware"
	"github.com/tendhq/tend/kit/route"
	"github.com/tendhq/tend/kit/trace"
)

// fullChain is kit's middleware in the order kit's README uses, around handler.
func fullChain(handler http.Handler, withTimeout, withAccessLog bool) http.Handler {
	// a service without OTEL_EXPORTER_OTLP_ENDPOINT: tracing only propagates
	_, _ = trace.Setup(context.Background(), trace.Options{Service: "bench", Getenv: func(string) string { return "" }})
	ips, _ := clientip.New("127.0.0.1")
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := metrics.New()
	mux := route.NewMux()
	mux.Handle("GET /users/{id}", handler)
	mws := []middleware.Middleware{
		route.Track,
		middleware.Recover(logger),
		middleware.RequestID,
		trace.Middleware,
		m.Middleware,
		middleware.SecurityHeaders(""),
		middleware.CORS(middleware.CORSOptions{Origins: []string{"https://app.example"}}),
		middleware.RateLimit(middleware.RateLimitOptions{PerSecond: 1e9, Burst: 1 << 30, IPs: ips}),
		middleware.BodyLimit(1 << 20),
	}
	if withAccessLog {
		mws = append(mws[:4:4], append([]middleware.Middleware{kitlog.AccessLog(logger, ips)}, mws[4:]...)...)
	}
	if withTimeout {
		mws = append(mws, middleware.Timeout(5*time.Second))
	}
	return middleware.Chain(mux, mws...)
}

func benchmark(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "/users/123", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		req.Header.Del("X-Request-Id")
		h.ServeHTTP(w, req)
	}
}

// BenchmarkBare is the handler alone: the baseline the chain is measured against.
func BenchmarkBare(b *testing.B) {
	mux := route.NewMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	benchmark(b, mux)
}

// BenchmarkChain is every kit middleware but Timeout around a trivial handler.
func BenchmarkChain(b *testing.B) {
	benchmark(b, fullChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), false, true))
}

// BenchmarkChainWithoutAccessLog shows what the JSON access-log line costs.
func BenchmarkChainWithoutAccessLog(b *testing.B) {
	benchmark(b, fullChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), false, false))
}

// BenchmarkChainWithTimeout adds Timeout (http.TimeoutHandler buffers the response and
// runs the handler in a goroutine: it costs more than the rest together).
func BenchmarkChainWithTimeout(b *testing.B) {
	benchmark(b, fullChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), true, true))
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

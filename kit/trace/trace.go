// Package trace sets up OpenTelemetry tracing: OTLP/HTTP export when the standard OTEL_* variables ask for it, W3C propagation, and HTTP middleware and transport that carry it.
package trace

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tendhq/tend/kit/response"
	"github.com/tendhq/tend/kit/route"
)

// Options configure Setup.
type Options struct {
	Service string
	Version string
	// SampleRatio is the share of new traces recorded (0..1); a child follows its parent's
	// decision. Default 1, or OTEL_TRACES_SAMPLER_ARG when set.
	SampleRatio float64
	// Getenv replaces os.Getenv (for tests).
	Getenv func(string) string
}

// Setup installs a tracer provider and the W3C traceparent and baggage propagators.
// When OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, spans
// are exported over OTLP/HTTP protobuf (with OTEL_EXPORTER_OTLP_HEADERS and _TIMEOUT);
// otherwise tracing is a no-op that still propagates incoming context. Call shutdown
// on exit to flush spans.
func Setup(ctx context.Context, o Options) (shutdown func(context.Context) error, err error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" || getenv("OTEL_SDK_DISABLED") == "true" {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}
	ratio := o.SampleRatio
	if v := getenv("OTEL_TRACES_SAMPLER_ARG"); v != "" {
		if ratio, err = strconv.ParseFloat(v, 64); err != nil || ratio < 0 || ratio > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: want a ratio between 0 and 1, got %q", v)
		}
	} else if ratio == 0 {
		ratio = 1
	}
	// the specification's /v1/traces suffix goes after the base endpoint, not after a
	// signal-specific one
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = strings.TrimRight(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/") + "/v1/traces"
	}
	client, err := newHTTPClient(endpoint, getenv)
	if err != nil {
		return nil, err
	}
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("create the OTLP/HTTP trace exporter (check OTEL_EXPORTER_OTLP_ENDPOINT): %w", err)
	}
	// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME add to (and override) the options'
	res, err := resource.Merge(resource.NewSchemaless(attribute.String("service.name", o.Service), attribute.String("service.version", o.Version)),
		resource.Environment())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

const instrumentation = "github.com/tendhq/tend/kit/trace"

// Middleware starts a server span per request, continuing the caller's trace from the
// traceparent header; the span is named after the route pattern once it is known. Use it
// inside route.Track.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, off := otel.GetTracerProvider().(noop.TracerProvider); off && r.Header["Traceparent"] == nil && r.Header["Baggage"] == nil {
			next.ServeHTTP(w, r) // nothing to record and nothing to pass on
			return
		}
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := otel.Tracer(instrumentation).Start(ctx, r.Method, oteltrace.WithSpanKind(oteltrace.SpanKindServer))
		defer span.End()
		rec := response.Wrap(w)
		next.ServeHTTP(rec, r.WithContext(ctx))
		if !span.IsRecording() {
			return
		}
		pattern := route.Pattern(r)
		span.SetName(pattern)
		span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
			attribute.String("http.route", pattern), attribute.Int("http.response.status_code", rec.Code()))
		if rec.Code() >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.Code()))
		}
	})
}

// Transport wraps base (nil: http.DefaultTransport) so that outgoing requests carry the
// current trace and baggage, each in a client span.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{base}
}

type transport struct{ base http.RoundTripper }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := otel.Tracer(instrumentation).Start(r.Context(), "HTTP "+r.Method, oteltrace.WithSpanKind(oteltrace.SpanKindClient),
		oteltrace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("server.address", r.URL.Host)))
	defer span.End()
	r = r.Clone(ctx)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	return resp, nil
}

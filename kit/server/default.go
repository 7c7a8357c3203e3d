package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/tendhq/tend/kit/buildinfo"
	"github.com/tendhq/tend/kit/clientip"
	kitlog "github.com/tendhq/tend/kit/log"
	"github.com/tendhq/tend/kit/metrics"
	"github.com/tendhq/tend/kit/middleware"
	"github.com/tendhq/tend/kit/route"
	"github.com/tendhq/tend/kit/trace"
)

// Default is Run with everything a service needs around o.Handler: it sets up tracing
// (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; flushed last at shutdown), a JSON
// logger when o.Logger is nil (service o.Service, level $LOG_LEVEL), metrics with
// build_info when o.Metrics is nil, and wraps o.Handler in this chain, outermost first:
//
//  1. middleware.Recover: outermost, so that a panic anywhere below, kit's own
//     middleware included, becomes a 500 with its stack in the log instead of a
//     dropped connection.
//  2. middleware.RequestID: before everything that logs or answers, so the access
//     log, the panic's log line and every response (a 500 from Recover too) carry
//     X-Request-Id.
//  3. route.Track: before the three that name the route, so logs, metrics and
//     spans say "GET /users/{id}", never /users/123.
//  4. trace.Middleware: outside the access log, so its line carries trace_id and
//     span_id.
//  5. log.AccessLog, then 6. metrics: outside the handler's own answers (and the
//     timeout's 503), so every request is logged and counted, a panicking one as 500.
//  7. middleware.SecurityHeaders(o.CSP).
//  8. middleware.Timeout(o.RequestTimeout), when it is set: innermost, so a request
//     that ran out of time is still logged and counted, as 503. It buffers each
//     response, so streaming handlers should leave it unset. It runs the handler in
//     a goroutine of its own and re-panics there, which would lose the panic's stack,
//     so a second middleware.Recover goes inside it.
//
// Rate limits, CORS and body limits depend on the service: put them around your
// handler (inside this chain). /health and /ready on the public port, and the admin
// port (/metrics, /debug/pprof/*, /version), bypass the chain, as with Run; so does
// SIGTERM handling: readiness off, o.DrainDelay, in-flight requests finished,
// closers closed in reverse.
func Default(ctx context.Context, o Options, closers ...Closer) error {
	if o.Handler == nil {
		return fmt.Errorf("server.Default: Options.Handler is nil")
	}
	if o.Service == "" {
		o.Service = envOr("TEND_APP", filepath.Base(os.Args[0]))
	}
	info := buildinfo.Get()
	stopTracing, err := trace.Setup(ctx, trace.Options{Service: o.Service, Version: info.Version})
	if err != nil {
		return err
	}
	closers = append([]Closer{{Name: "tracing", Close: stopTracing}}, closers...)
	if o.Logger == nil {
		o.Logger = kitlog.New(kitlog.Options{Service: o.Service, Version: info.Version, Level: os.Getenv("LOG_LEVEL")})
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
		o.Metrics.Registry.MustRegister(buildinfo.Collector())
	}
	ips, err := clientip.New(o.TrustedProxies...)
	if err != nil {
		_ = stopTracing(ctx)
		return fmt.Errorf("server.Default: TrustedProxies: %w", err)
	}
	o.Handler = defaultChain(o.Handler, o, ips)
	return Run(ctx, o, closers...)
}

// defaultChain is Default's middleware around h, in the order its doc gives.
func defaultChain(h http.Handler, o Options, ips *clientip.Resolver) http.Handler {
	mws := []middleware.Middleware{middleware.Recover(o.Logger), middleware.RequestID, route.Track, trace.Middleware,
		kitlog.AccessLog(o.Logger, ips), o.Metrics.Middleware, middleware.SecurityHeaders(o.CSP)}
	if o.RequestTimeout > 0 {
		mws = append(mws, middleware.Timeout(o.RequestTimeout), middleware.Recover(o.Logger))
	}
	return middleware.Chain(h, mws...)
}

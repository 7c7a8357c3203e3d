// Package log sets up a service's structured JSON logger: service and version on every line, trace and span IDs from the context, access and audit logs.
package log

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tendhq/tend/kit/clientip"
	"github.com/tendhq/tend/kit/response"
	"github.com/tendhq/tend/kit/route"
)

// Options configure New.
type Options struct {
	Service string
	Version string
	// Level is debug, info, warn or error (default info).
	Level string
	// Writer receives the JSON lines (default os.Stdout).
	Writer io.Writer
}

// New returns a JSON logger that adds service, version and, when the context carries a
// span, trace_id and span_id to every record logged with a context.
func New(o Options) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		lvl = slog.LevelInfo
	}
	w := o.Writer
	if w == nil {
		w = os.Stdout
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})
	return slog.New(traceHandler{h}).With(slog.String("service", o.Service), slog.String("version", o.Version))
}

// traceHandler adds the context's trace and span IDs.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// AccessLog logs one line per request: method, route pattern, path, status, bytes,
// duration and the client's address (forwarding headers honoured only from the
// resolver's trusted proxies). Use it inside route.Track. A request whose handler
// panicked is logged too, as 500 when nothing was written yet.
func AccessLog(logger *slog.Logger, ips *clientip.Resolver) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := response.Wrap(w)
			done := false
			defer func() {
				code := rec.Code()
				if !done && rec.Status == 0 {
					code = http.StatusInternalServerError // a panic, which an outer middleware.Recover answers with 500
				}
				logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method), slog.String("route", route.Pattern(r)), slog.String("path", r.URL.Path),
					slog.Int("status", code), slog.Int64("bytes", rec.Bytes), slog.Duration("duration", time.Since(start)),
					slog.String("client_ip", ips.ClientIP(r)), slog.String("request_id", r.Header.Get("X-Request-Id")))
			}()
			next.ServeHTTP(rec, r)
			done = true
		})
	}
}

// Audit records who did what to which object, as a record with audit=true that log
// pipelines can route to a separate, longer-kept store.
func Audit(ctx context.Context, logger *slog.Logger, actor, action, object string, attrs ...slog.Attr) {
	all := append([]slog.Attr{slog.Bool("audit", true), slog.String("actor", actor), slog.String("action", action), slog.String("object", object)}, attrs...)
	logger.LogAttrs(ctx, slog.LevelInfo, "audit", all...)
}

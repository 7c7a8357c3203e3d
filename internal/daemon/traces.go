package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/trace"
)

// DefaultOTLPAddr is the OTLP/HTTP port every OpenTelemetry SDK sends to by default, on
// loopback: instances reach it without a token, nothing off the machine does.
const DefaultOTLPAddr = "127.0.0.1:4318"

// listenerOTLP names the OTLP receiver's socket among those a hand-over passes on.
const listenerOTLP = "otlp"

// openTraces opens the span store and the OTLP receiver's socket: the one a predecessor
// handed over, else --otlp, else any free loopback port when it is taken (instances are
// told which by OTEL_EXPORTER_OTLP_ENDPOINT).
func (s *server) openTraces(context.Context) error {
	st, err := trace.Open(trace.Options{Dir: filepath.Join(s.dir, "traces"), Retention: s.cfg.TraceRetention, MaxBytes: s.cfg.TraceRetentionBytes,
		Logger: s.log.With("component", "traces")})
	if err != nil {
		return fmt.Errorf("open the span store in %s: %w (move the directory away to start with none)", filepath.Join(s.dir, "traces"), err)
	}
	s.spans = st
	if s.cfg.OTLPExport != "" {
		s.exporter = trace.NewExporter(s.cfg.OTLPExport, s.log.With("component", "otlp-export"))
	}
	s.registerTraceMetrics()
	if f, ok := s.gwInherited[listenerOTLP]; ok {
		delete(s.gwInherited, listenerOTLP)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("inherited OTLP listener: %w", err)
		}
		s.otlpLn = ln.(*net.TCPListener)
		return nil
	}
	addr := s.cfg.OTLPAddr
	if addr == "" {
		addr = DefaultOTLPAddr
	}
	if addr == "off" {
		return nil
	}
	if err := loopbackOnly(addr); err != nil {
		return &ConfigError{err}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && s.cfg.OTLPAddr == "" {
		// another collector (or another tend) has the usual port: the one this data dir
		// had last (instances kept running may still send there), else any
		remembered := filepath.Join(s.dir, "traces", "receiver.addr")
		s.log.Info("the OTLP port is taken; receiving spans on another", "addr", addr, "err", err)
		if b, rerr := os.ReadFile(remembered); rerr == nil && loopbackOnly(string(b)) == nil {
			ln, err = net.Listen("tcp", string(b))
		}
		if err != nil {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err == nil {
			_ = os.WriteFile(remembered, []byte(ln.Addr().String()), 0o600)
		}
	}
	if err != nil {
		return &ConfigError{fmt.Errorf("--otlp %s: %w (choose another address, or off)", addr, err)}
	}
	s.otlpLn = ln.(*net.TCPListener)
	return nil
}

// loopbackOnly refuses an --otlp address off loopback: the receiver takes spans without
// a token (the API's /v1/traces takes them from elsewhere, with one).
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--otlp %q: want host:port, like 127.0.0.1:4318: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--otlp %s: the receiver takes spans without a token, so it listens on loopback only (127.0.0.1 or ::1); send from elsewhere to the API's /v1/traces with a token", addr)
	}
	return nil
}

// addSpans keeps spans and forwards them when --otlp-export asks.
func (s *server) addSpans(spans []trace.Span) error {
	if s.exporter != nil {
		_ = s.exporter.Export(spans) // a full queue is counted and logged by the exporter
	}
	return s.spans.Add(spans)
}

// gatewaySpans takes the spans the data plane collected from the gateway.
func (s *server) gatewaySpans(spans []trace.Span) {
	if err := s.addSpans(spans); err != nil {
		s.log.Warn("keep the gateway's spans", "err", err, "spans", len(spans))
	}
}

// otlpEndpoint is the OTEL_EXPORTER_OTLP_ENDPOINT instances get ("": no receiver).
func (s *server) otlpEndpoint() string {
	if s.otlpLn == nil {
		return ""
	}
	return "http://" + s.otlpLn.Addr().String()
}

// instanceEnv is what the process runtime gives every instance: where to send spans.
func (s *server) instanceEnv() []string {
	if e := s.otlpEndpoint(); e != "" {
		return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + e}
	}
	return nil
}

// otlpReceiver is the OTLP/HTTP handler of spans, on the loopback port and the API.
func (s *server) otlpReceiver() http.Handler { return &trace.Receiver{Add: s.addSpans} }

// serveOTLP serves the receiver on its loopback socket until the server stops.
func (s *server) serveOTLP(ctx context.Context) error {
	if s.otlpLn == nil {
		<-ctx.Done()
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/traces", s.otlpReceiver())
	s.otlpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.With("component", "otlp").Handler(), slog.LevelInfo)}
	errc := make(chan error, 1)
	go func() { errc <- s.otlpSrv.Serve(s.otlpLn) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("OTLP receiver: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// closeTraces lets the receiver's requests finish (on a hand-over the successor holds
// the socket already), flushes the forwarder and closes the store.
func (s *server) closeTraces(ctx context.Context, _ ending) error {
	if s.otlpSrv != nil {
		_ = s.otlpSrv.Shutdown(ctx)
	} else if s.otlpLn != nil {
		s.otlpLn.Close()
	}
	if s.exporter != nil {
		s.exporter.Close()
	}
	return s.spans.Close()
}

// otlpFile is the receiver's socket for a successor (nil: none).
func (s *server) otlpFile() *os.File {
	if s.otlpLn == nil {
		return nil
	}
	f, err := s.otlpLn.File()
	if err != nil {
		s.log.Warn("share the OTLP listener with the new server; it listens anew", "err", err)
		return nil
	}
	return f
}

// registerTraceMetrics exports the forwarder's counts.
func (s *server) registerTraceMetrics() {
	if s.exporter == nil {
		return
	}
	e := s.exporter
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tend_otlp_export_spans_total", Help: "Spans --otlp-export's endpoint accepted."},
		func() float64 { return float64(e.Exported()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tend_otlp_export_failed_spans_total", Help: "Spans --otlp-export's endpoint refused or did not answer for."},
			func() float64 { return float64(e.Failed()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tend_otlp_export_dropped_spans_total", Help: "Spans dropped because --otlp-export's endpoint did not keep up."},
			func() float64 { return float64(e.Dropped()) }))
}

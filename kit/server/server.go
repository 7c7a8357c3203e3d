// Package server runs a service's HTTP listeners and shuts them down gracefully: readiness off, drain, shutdown, then resources closed in reverse order.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/kit/buildinfo"
	"github.com/tendhq/tend/kit/health"
	"github.com/tendhq/tend/kit/metrics"
)

// Options configure Run.
type Options struct {
	// Handler serves the public listener.
	Handler http.Handler
	// Addr is the public address (default $HOST + ":" + $PORT: every interface, port 8080).
	Addr string
	// AdminAddr serves /metrics, /debug/pprof/*, /version, /health and /ready on its own
	// mux, never on the public port (default $ADMIN_HOST + ":" + $ADMIN_PORT, or
	// 127.0.0.1:9090; in a pod ADMIN_HOST is its IP, so Prometheus can scrape it; "-"
	// disables it).
	AdminAddr string
	// Health answers /health and /ready on both listeners; readiness fails as soon as
	// shutdown begins. Nil makes one without checks.
	Health *health.Checker
	// Metrics are served on the admin listener; nil makes a fresh set.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// DrainDelay is how long to keep serving after readiness turned false, so load
	// balancers notice (default 5s).
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests (default 20s).
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the listeners' addresses once they accept connections.
	Ready func(public, admin string)

	// The rest is read by Default only.

	// Service names the service in logs and traces (default $TEND_APP, else the
	// executable's name).
	Service string
	// TrustedProxies may set X-Forwarded-For for the access log's client_ip (addresses
	// or CIDRs; tend's gateway runs on loopback: 127.0.0.1 and ::1). None: the peer is
	// the client.
	TrustedProxies []string
	// RequestTimeout, when set, answers 503 to a request not served within it.
	RequestTimeout time.Duration
	// CSP is the Content-Security-Policy header (default "default-src 'self'").
	CSP string
}

// Closer is a resource closed at shutdown, after the listeners.
type Closer struct {
	Name  string
	Close func(ctx context.Context) error
}

// Run serves until SIGINT, SIGTERM or ctx ends, then shuts down gracefully and closes
// closers in reverse order. It serves o.Handler as it is; Default adds kit's middleware. It returns nil after a clean shutdown; main should exit
// non-zero when it returns an error.
func Run(ctx context.Context, o Options, closers ...Closer) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Health == nil {
		o.Health = health.New()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Addr == "" {
		o.Addr = os.Getenv("HOST") + ":" + envOr("PORT", "8080")
	}
	if o.AdminAddr == "" {
		o.AdminAddr = envOr("ADMIN_HOST", "127.0.0.1") + ":" + envOr("ADMIN_PORT", "9090")
	}
	if o.DrainDelay == 0 {
		o.DrainDelay = 5 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	log := o.Logger
	// before the listeners exist: a SIGTERM right after Ready must shut down, not kill
	sig, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	public := http.NewServeMux()
	public.Handle("GET /health", o.Health.LiveHandler())
	public.Handle("GET /ready", o.Health.ReadyHandler())
	public.Handle("/", o.Handler)
	servers := []*http.Server{{Addr: o.Addr, Handler: public, ReadHeaderTimeout: 10 * time.Second}}
	if o.AdminAddr != "-" {
		servers = append(servers, &http.Server{Addr: o.AdminAddr, Handler: adminMux(o), ReadHeaderTimeout: 10 * time.Second})
	}
	lns := make([]net.Listener, 0, len(servers))
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("listen on %s: %w (set PORT or ADMIN_PORT)", s.Addr, err)
		}
		lns = append(lns, ln)
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() {
			if err := s.Serve(lns[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	adminAddr := ""
	if len(lns) > 1 {
		adminAddr = lns[1].Addr().String()
	}
	log.Info("serving", "addr", lns[0].Addr().String(), "admin", adminAddr)
	if o.Ready != nil {
		o.Ready(lns[0].Addr().String(), adminAddr)
	}

	var serveErr error
	select {
	case <-sig.Done():
	case serveErr = <-errc:
		log.Error("listener failed", "err", serveErr)
	}

	o.Health.ShuttingDown()
	log.Info("shutting down: readiness is off; draining", "delay", o.DrainDelay)
	time.Sleep(o.DrainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(sctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("shut down %s: %w", s.Addr, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i].Close(sctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", closers[i].Name, err))
		}
	}
	if serveErr != nil {
		errs = append(errs, serveErr)
	}
	err := errors.Join(errs...)
	if err != nil {
		log.Error("shutdown", "err", err)
	} else {
		log.Info("stopped")
	}
	return err
}

// adminMux is the admin listener's own mux: never the default mux, never the public port.
func adminMux(o Options) *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET /metrics", o.Metrics.Handler())
	m.Handle("GET /version", buildinfo.Handler())
	m.Handle("GET /health", o.Health.LiveHandler())
	m.Handle("GET /ready", o.Health.ReadyHandler())
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Command hello is a small service for tend's demos and tests, with knobs that make a bad revision on purpose.
//
// Environment: PORT (default 8081), TEND_APP, TEND_REVISION, TEND_INSTANCE (set by tend), and
// FAULT_ERROR_RATE (0..1 of requests to / answer 500), FAULT_LATENCY (added to /),
// FAULT_STARTUP_DELAY (before /ready turns 200), FAULT_CRASH_AFTER (then exit 2),
// FAULT_NEVER_READY=1 (/ready always 503).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// config is what the environment asks of this instance.
type config struct {
	app, revision, instance string
	errorRate               float64
	latency                 time.Duration
	startupDelay            time.Duration
	crashAfter              time.Duration
	neverReady              bool
}

func configFromEnv(getenv func(string) string) (config, error) {
	c := config{app: getenv("TEND_APP"), revision: getenv("TEND_REVISION"), instance: getenv("TEND_INSTANCE")}
	if c.app == "" {
		c.app = "hello"
	}
	var err error
	if v := getenv("FAULT_ERROR_RATE"); v != "" {
		if c.errorRate, err = strconv.ParseFloat(v, 64); err != nil || c.errorRate < 0 || c.errorRate > 1 {
			return c, fmt.Errorf("FAULT_ERROR_RATE: want a number between 0 and 1, got %q", v)
		}
	}
	for name, dst := range map[string]*time.Duration{"FAULT_LATENCY": &c.latency, "FAULT_STARTUP_DELAY": &c.startupDelay, "FAULT_CRASH_AFTER": &c.crashAfter} {
		if v := getenv(name); v != "" {
			if *dst, err = time.ParseDuration(v); err != nil {
				return c, fmt.Errorf("%s: want a duration like 300ms, got %q", name, v)
			}
		}
	}
	c.neverReady = getenv("FAULT_NEVER_READY") == "1"
	return c, nil
}

// service answers requests; ready turns false when shutdown begins.
type service struct {
	cfg      config
	started  time.Time
	draining atomic.Bool
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.latency > 0 {
			select {
			case <-time.After(s.cfg.latency):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Revision", s.cfg.revision)
		w.Header().Set("X-Instance", s.cfg.instance)
		if s.cfg.errorRate > 0 && rand.Float64() < s.cfg.errorRate {
			http.Error(w, "injected fault", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello from %s revision %s instance %s\n", s.cfg.app, s.cfg.revision, s.cfg.instance)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.draining.Load():
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case s.cfg.neverReady:
			http.Error(w, "never ready (FAULT_NEVER_READY)", http.StatusServiceUnavailable)
		case time.Since(s.started) < s.cfg.startupDelay:
			http.Error(w, "starting (FAULT_STARTUP_DELAY)", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	return mux
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		log.Error("bad configuration", "err", err)
		os.Exit(1)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	s := &service{cfg: cfg, started: time.Now()}
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	if cfg.crashAfter > 0 {
		time.AfterFunc(cfg.crashAfter, func() {
			log.Error("crashing on purpose (FAULT_CRASH_AFTER)", "after", cfg.crashAfter)
			os.Exit(2)
		})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", srv.Addr, "app", cfg.app, "revision", cfg.revision, "instance", cfg.instance)
	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("shutdown", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

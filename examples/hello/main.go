// Command hello is a small service built on kit, for tend's demos and tests, with knobs that make a bad revision on purpose.
//
// Environment: PORT (default 8080) and ADMIN_PORT (metrics, pprof; default 9090), both set
// by tend; HOST and ADMIN_HOST, the addresses they listen on (default 127.0.0.1; the pod's
// IP on Kubernetes); TEND_APP, TEND_REVISION, TEND_INSTANCE (set by tend); HELLO_DRAIN_DELAY (how long
// to keep serving after readiness turns off, default 500ms); and the fault knobs
// FAULT_ERROR_RATE (0..1 of requests to / answer 500), FAULT_LATENCY (added to /),
// FAULT_STARTUP_DELAY (before /ready turns 200), FAULT_CRASH_AFTER (then exit 2),
// FAULT_NEVER_READY=1 (/ready always 503). HELLO_CALL_URL makes / call that URL first (with
// HELLO_CALL_HOST as its Host, to reach another app through tend's gateway) and answer with
// what it said: a request that crosses two services, for tracing.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tendhq/tend/kit/buildinfo"
	"github.com/tendhq/tend/kit/config"
	"github.com/tendhq/tend/kit/health"
	kitlog "github.com/tendhq/tend/kit/log"
	"github.com/tendhq/tend/kit/route"
	"github.com/tendhq/tend/kit/server"
	"github.com/tendhq/tend/kit/trace"
)

// settings is what the environment asks of this instance.
type settings struct {
	App          string        `env:"TEND_APP" default:"hello"`
	Revision     string        `env:"TEND_REVISION"`
	Instance     string        `env:"TEND_INSTANCE"`
	DrainDelay   time.Duration `env:"HELLO_DRAIN_DELAY" default:"500ms"`
	LogLevel     string        `env:"LOG_LEVEL" default:"info"`
	ErrorRate    float64       `env:"FAULT_ERROR_RATE"`
	Latency      time.Duration `env:"FAULT_LATENCY"`
	StartupDelay time.Duration `env:"FAULT_STARTUP_DELAY"`
	CrashAfter   time.Duration `env:"FAULT_CRASH_AFTER"`
	NeverReady   bool          `env:"FAULT_NEVER_READY"`
	CallURL      string        `env:"HELLO_CALL_URL"`
	CallHost     string        `env:"HELLO_CALL_HOST"`
}

func load(lookup func(string) (string, bool)) (settings, error) {
	var s settings
	if _, err := config.Load(&s, config.WithLookupEnv(lookup)); err != nil {
		return s, err
	}
	if s.ErrorRate < 0 || s.ErrorRate > 1 {
		return s, fmt.Errorf("FAULT_ERROR_RATE: want a number between 0 and 1, got %v", s.ErrorRate)
	}
	return s, nil
}

// routes serves / with the revision and instance, and the fault knobs.
func routes(s settings, logger *slog.Logger) *route.Mux {
	mux := route.NewMux()
	client := &http.Client{Transport: trace.Transport(nil), Timeout: 10 * time.Second}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.Latency > 0 {
			select {
			case <-time.After(s.Latency):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Revision", s.Revision)
		w.Header().Set("X-Instance", s.Instance)
		if v := r.Header.Get("X-Tend-Preview"); v != "" {
			// tend's gateway never forwards it: a value here is a leak, for tests to catch
			w.Header().Set("X-Seen-Preview", v)
		}
		if s.ErrorRate > 0 && rand.Float64() < s.ErrorRate {
			http.Error(w, "injected fault", http.StatusInternalServerError)
			return
		}
		var called string
		if s.CallURL != "" {
			body, err := call(r.Context(), client, s.CallURL, s.CallHost)
			if err != nil {
				logger.WarnContext(r.Context(), "the call failed", "url", s.CallURL, "host", s.CallHost, "err", err)
				http.Error(w, "calling "+s.CallURL+": "+err.Error(), http.StatusBadGateway)
				return
			}
			logger.InfoContext(r.Context(), "called", "url", s.CallURL, "host", s.CallHost)
			called = "called: " + body
		}
		fmt.Fprintf(w, "hello from %s revision %s instance %s\n%s", s.App, s.Revision, s.Instance, called)
	})
	return mux
}

// call GETs url with host as its Host ("": the URL's), in the request's trace.
func call(ctx context.Context, client *http.Client, url, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// checks makes readiness wait for FAULT_STARTUP_DELAY, or never pass with FAULT_NEVER_READY.
func checks(s settings, started time.Time) *health.Checker {
	c := health.New()
	c.CacheFor = 0
	c.Add("startup", time.Second, func(context.Context) error {
		switch {
		case s.NeverReady:
			return errors.New("never ready (FAULT_NEVER_READY)")
		case time.Since(started) < s.StartupDelay:
			return errors.New("starting (FAULT_STARTUP_DELAY)")
		}
		return nil
	})
	return c
}

func main() {
	s, err := load(os.LookupEnv)
	if err != nil {
		slog.Error("bad configuration", "err", err)
		os.Exit(1)
	}
	logger := kitlog.New(kitlog.Options{Service: s.App, Version: buildinfo.Get().Version, Level: s.LogLevel})
	if s.CrashAfter > 0 {
		time.AfterFunc(s.CrashAfter, func() {
			logger.Error("crashing on purpose (FAULT_CRASH_AFTER)", "after", s.CrashAfter)
			os.Exit(2)
		})
	}
	logger.Info("starting", "revision", s.Revision, "instance", s.Instance)
	// tend's gateway runs on loopback, so it alone may set X-Forwarded-For
	err = server.Default(context.Background(), server.Options{Handler: routes(s, logger), Addr: envOr("HOST", "127.0.0.1") + ":" + envOr("PORT", "8080"),
		Health: checks(s, time.Now()), Logger: logger, DrainDelay: s.DrainDelay, Service: s.App, TrustedProxies: []string{"127.0.0.1", "::1"}})
	if err != nil {
		logger.Error("server", "err", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

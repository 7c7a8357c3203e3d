// Package health answers liveness and readiness probes: named checks run in parallel with timeouts, cached briefly, and readiness that fails the moment shutdown begins.
package health

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// CheckFunc reports whether a dependency is usable.
type CheckFunc func(ctx context.Context) error

type check struct {
	name    string
	fn      CheckFunc
	timeout time.Duration
}

// Checker holds the readiness checks of a service.
type Checker struct {
	// CacheFor reuses a readiness result for this long (default 1s), so that probes from
	// several load balancers do not multiply the load on dependencies.
	CacheFor time.Duration

	mu       sync.Mutex
	checks   []check
	cached   *Report
	cachedAt time.Time
	shutting atomic.Bool
}

// Report is the JSON body of /ready and /health.
type Report struct {
	Status string            `json:"status"` // ok | failing | shutting down
	Checks map[string]Result `json:"checks,omitempty"`
}

// Result is one check's outcome.
type Result struct {
	Status   string `json:"status"` // ok | failing
	Error    string `json:"error,omitempty"`
	Duration string `json:"duration"`
}

// New returns a Checker without checks.
func New() *Checker { return &Checker{CacheFor: time.Second} }

// Add registers a readiness check; it fails when fn errs or takes longer than timeout.
func (c *Checker) Add(name string, timeout time.Duration, fn CheckFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks = append(c.checks, check{name: name, fn: fn, timeout: timeout})
	c.cached = nil
}

// ShuttingDown makes readiness fail from now on, so the load balancer stops sending traffic.
func (c *Checker) ShuttingDown() { c.shutting.Store(true) }

// Ready runs every check in parallel (or returns the cached report) and says whether all passed.
func (c *Checker) Ready(ctx context.Context) (Report, bool) {
	if c.shutting.Load() {
		return Report{Status: "shutting down"}, false
	}
	c.mu.Lock()
	if c.cached != nil && time.Since(c.cachedAt) < c.CacheFor {
		r := *c.cached
		c.mu.Unlock()
		return r, r.Status == "ok"
	}
	checks := append([]check(nil), c.checks...)
	c.mu.Unlock()

	r := Report{Status: "ok", Checks: map[string]Result{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := run(ctx, ch)
			res := Result{Status: "ok", Duration: time.Since(start).Round(time.Microsecond).String()}
			if err != nil {
				res.Status, res.Error = "failing", err.Error()
			}
			mu.Lock()
			r.Checks[ch.name] = res
			if err != nil {
				r.Status = "failing"
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	c.mu.Lock()
	c.cached, c.cachedAt = &r, time.Now()
	c.mu.Unlock()
	return r, r.Status == "ok"
}

func run(ctx context.Context, ch check) error {
	ctx, cancel := context.WithTimeout(ctx, ch.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ch.fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", ch.timeout)
	}
}

// LiveHandler answers /health: 200 while the process can serve at all. It runs no
// dependency checks: a failing database must not make the orchestrator restart us.
func (c *Checker) LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, http.StatusOK, Report{Status: "ok"})
	})
}

// ReadyHandler answers /ready: 200 when every check passes, 503 otherwise or during
// shutdown, with each check's result in the body.
func (c *Checker) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, ok := c.Ready(r.Context())
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeReport(w, code, rep)
	})
}

func writeReport(w http.ResponseWriter, code int, r Report) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

// SQL checks a database/sql pool with a ping.
func SQL(db *sql.DB) CheckFunc { return db.PingContext }

// TCP checks that addr accepts connections.
func TCP(addr string) CheckFunc {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HTTP checks that GET url answers 2xx.
func HTTP(client *http.Client, url string) CheckFunc {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return errors.New("GET " + url + ": " + resp.Status)
		}
		return nil
	}
}

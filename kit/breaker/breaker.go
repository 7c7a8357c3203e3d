// Package breaker protects outbound calls: a circuit breaker on sony/gobreaker with its state as a metric, and retries with jittered exponential backoff.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// ErrOpen is returned while the breaker is open (or half-open and busy): the call was not made.
var ErrOpen = errors.New("circuit breaker open: the dependency failed recently; try again later")

// Settings configure a Breaker.
type Settings struct {
	Name string
	// Failures in a row that open the breaker (default 5).
	Failures uint32
	// OpenFor is how long the breaker stays open before it lets a trial call through (default 30s).
	OpenFor time.Duration
	// HalfOpenCalls are the trial calls allowed while half-open (default 1).
	HalfOpenCalls uint32
	// IsFailure decides which errors count (default: every non-nil error).
	IsFailure func(error) bool
}

// Breaker is a circuit breaker for one dependency.
type Breaker struct {
	cb *gobreaker.CircuitBreaker[any]
}

// StateGauge is breaker_state{name}: 0 closed, 1 half-open, 2 open. Register it once.
var StateGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "breaker_state",
	Help: "Circuit breaker state by name: 0 closed, 1 half-open, 2 open."}, []string{"name"})

// New returns a closed breaker.
func New(s Settings) *Breaker {
	if s.Failures == 0 {
		s.Failures = 5
	}
	if s.OpenFor == 0 {
		s.OpenFor = 30 * time.Second
	}
	if s.HalfOpenCalls == 0 {
		s.HalfOpenCalls = 1
	}
	st := gobreaker.Settings{Name: s.Name, MaxRequests: s.HalfOpenCalls, Timeout: s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
		OnStateChange: func(name string, _, to gobreaker.State) {
			StateGauge.WithLabelValues(name).Set(float64(to))
		}}
	if s.IsFailure != nil {
		st.IsSuccessful = func(err error) bool { return !s.IsFailure(err) }
	}
	StateGauge.WithLabelValues(s.Name).Set(0)
	return &Breaker{cb: gobreaker.NewCircuitBreaker[any](st)}
}

// State is "closed", "half-open" or "open".
func (b *Breaker) State() string { return b.cb.State().String() }

// Do runs fn through the breaker.
func (b *Breaker) Do(fn func() error) error {
	_, err := b.cb.Execute(func() (any, error) { return nil, fn() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("%s: %w", b.cb.Name(), ErrOpen)
	}
	return err
}

// Transport sends requests through the breaker; 5xx answers count as failures.
func (b *Breaker) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{b: b, base: base}
}

type roundTripper struct {
	b    *Breaker
	base http.RoundTripper
}

type statusError struct{ resp *http.Response }

func (e statusError) Error() string { return "answered " + e.resp.Status }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	var resp *http.Response
	err := t.b.Do(func() error {
		var err error
		resp, err = t.base.RoundTrip(r)
		if err == nil && resp.StatusCode >= 500 {
			return statusError{resp}
		}
		return err
	})
	var se statusError
	if errors.As(err, &se) {
		return se.resp, nil // the caller sees the 5xx; the breaker counted it
	}
	return resp, err
}

// Backoff is a retry policy: Attempts in all, waiting Initial, then twice as long each
// time up to Max, each wait jittered by ±Jitter (a fraction, default 0.2).
type Backoff struct {
	Attempts int
	Initial  time.Duration
	Max      time.Duration
	Jitter   float64
}

// Retry calls fn until it succeeds, the attempts are used up, ctx ends, or fn returns an
// error wrapped with Permanent. It returns the last error.
func Retry(ctx context.Context, p Backoff, fn func(ctx context.Context) error) error {
	if p.Attempts <= 0 {
		p.Attempts = 3
	}
	if p.Initial <= 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Second
	}
	if p.Jitter == 0 {
		p.Jitter = 0.2
	}
	wait := p.Initial
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(ctx); err == nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if attempt >= p.Attempts {
			return fmt.Errorf("after %d attempts: %w", attempt, err)
		}
		d := time.Duration(float64(wait) * (1 + p.Jitter*(2*rand.Float64()-1)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(d):
		}
		wait = min(wait*2, p.Max)
	}
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks an error that retrying cannot fix (a 4xx, a validation error).
func Permanent(err error) error { return permanent{err} }

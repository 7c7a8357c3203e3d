package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOpensAfterFailuresAndHalfOpensAfterTimeout(t *testing.T) {
	b := New(Settings{Name: "db", Failures: 3, OpenFor: 100 * time.Millisecond})
	boom := errors.New("boom")
	for i := 0; i < 3; i++ {
		if err := b.Do(func() error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if b.State() != "open" || testutil.ToFloat64(StateGauge.WithLabelValues("db")) != 2 {
		t.Fatalf("after 3 failures: %s, gauge %v", b.State(), testutil.ToFloat64(StateGauge.WithLabelValues("db")))
	}
	called := false
	if err := b.Do(func() error { called = true; return nil }); !errors.Is(err, ErrOpen) || called {
		t.Fatalf("open breaker: %v, called %v", err, called)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != "half-open" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.State() != "half-open" {
		t.Fatalf("after OpenFor: %s, want half-open", b.State())
	}
	if err := b.Do(func() error { return nil }); err != nil || b.State() != "closed" {
		t.Fatalf("trial call: %v, state %s, want closed", err, b.State())
	}
}

func TestTransportCounts5xxAndReturnsThem(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.WriteHeader(503) }))
	defer srv.Close()
	b := New(Settings{Name: "api", Failures: 2, OpenFor: time.Hour})
	c := &http.Client{Transport: b.Transport(nil)}
	for i := 0; i < 2; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	}
	if _, err := c.Get(srv.URL); !errors.Is(err, ErrOpen) || hits.Load() != 2 {
		t.Fatalf("third call: %v, server hit %d times", err, hits.Load())
	}
}

func TestRetryBacksOffAndStops(t *testing.T) {
	calls := 0
	err := Retry(context.Background(), Backoff{Attempts: 4, Initial: time.Millisecond}, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("flaky")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("%v after %d calls", err, calls)
	}
	calls = 0
	err = Retry(context.Background(), Backoff{Attempts: 5, Initial: time.Millisecond}, func(context.Context) error {
		calls++
		return Permanent(errors.New("400 bad request"))
	})
	if calls != 1 || err == nil || err.Error() != "400 bad request" {
		t.Fatalf("permanent error retried: %d calls, %v", calls, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Retry(ctx, Backoff{Attempts: 5, Initial: time.Hour}, func(context.Context) error { return errors.New("x") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled retry: %v", err)
	}
}

func ExampleRetry() {
	attempt := 0
	err := Retry(context.Background(), Backoff{Attempts: 3, Initial: time.Millisecond}, func(ctx context.Context) error {
		attempt++
		if attempt < 2 {
			return errors.New("connection refused")
		}
		return nil
	})
	fmt.Println(attempt, err)
	// Output: 2 <nil>
}

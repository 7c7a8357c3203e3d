package harness

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Load sends GET / to a gateway at a steady rate until stopped and records every outcome.
type Load struct {
	ok, failed atomic.Int64
	inFlight   atomic.Int64

	mu         sync.Mutex
	byRevision map[string]int64
	failedBy   map[string]int64
	failures   []string
	latencies  []time.Duration

	stop chan struct{}
	done sync.WaitGroup
}

// StartLoad sends about rps requests per second to s's gateway for at most limit, from a
// bounded number of workers (one per 25 req/s, at least 16) so that a slow answer does not
// stop the others.
func StartLoad(s *Server, rps int, limit time.Duration) *Load {
	l := &Load{byRevision: map[string]int64{}, failedBy: map[string]int64{}, stop: make(chan struct{})}
	workers := max(16, rps/25)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	interval := time.Duration(int64(time.Second) * int64(workers) / int64(rps))
	deadline := time.Now().Add(limit)
	for w := 0; w < workers; w++ {
		l.done.Add(1)
		go func(w int) {
			defer l.done.Done()
			// spread the workers over one interval so the rate is steady, not bursty
			time.Sleep(interval * time.Duration(w) / time.Duration(workers))
			t := time.NewTicker(interval)
			defer t.Stop()
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				case <-t.C:
				}
				start := time.Now()
				l.inFlight.Add(1)
				code, rev, body, err := s.Get(client, "/")
				l.inFlight.Add(-1)
				took := time.Since(start)
				l.mu.Lock()
				if err != nil || code != http.StatusOK {
					l.failed.Add(1)
					l.failedBy[rev]++
					if len(l.failures) < 20 {
						l.failures = append(l.failures, fmt.Sprintf("%s: code %d err %v body %.80q", start.Format("15:04:05.000"), code, err, body))
					}
				} else {
					l.ok.Add(1)
					l.byRevision[rev]++
					l.latencies = append(l.latencies, took)
				}
				l.mu.Unlock()
			}
		}(w)
	}
	return l
}

// InFlight is the number of requests sent (or being sent) and not yet answered or
// failed at this instant.
func (l *Load) InFlight() int64 { return l.inFlight.Load() }

// Result is what a load saw.
type Result struct {
	OK, Failed int64
	ByRevision map[string]int64
	// FailedByRevision counts failed answers by the revision that gave them ("" when none did).
	FailedByRevision map[string]int64
	Failures         []string        // the first 20 failures, with time, status and error
	Latencies        []time.Duration // of successful requests, sorted
}

// Finish stops the load and returns what it saw.
func (l *Load) Finish() Result {
	close(l.stop)
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.latencies, func(i, j int) bool { return l.latencies[i] < l.latencies[j] })
	return Result{OK: l.ok.Load(), Failed: l.failed.Load(), ByRevision: l.byRevision, FailedByRevision: l.failedBy, Failures: l.failures, Latencies: l.latencies}
}

// Percentile is the q-quantile (0 < q ≤ 1) of the successful requests' latencies.
func (r Result) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	i = min(max(i, 0), len(r.Latencies)-1)
	return r.Latencies[i]
}

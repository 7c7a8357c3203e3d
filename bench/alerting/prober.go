package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// prober sends GET / through the gateway at a steady rate and remembers the first
// request that failed.
type prober struct {
	mu               sync.Mutex
	first            time.Time
	requests, failed int64
	done             chan struct{}
	wg               sync.WaitGroup
	failedc          chan struct{}
	once             sync.Once
}

func newProber(s *harness.Server, rps int) *prober {
	p := &prober{done: make(chan struct{}), failedc: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	workers := max(1, rps/25)
	interval := time.Duration(int64(time.Second) * int64(workers) / int64(max(rps, 1)))
	for range workers {
		p.wg.Go(func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-p.done:
					return
				case <-t.C:
				}
				code, _, _, err := s.Get(client, "/")
				p.mu.Lock()
				p.requests++
				if err != nil || code >= 500 {
					p.failed++
					if p.first.IsZero() {
						p.first = time.Now()
						p.once.Do(func() { close(p.failedc) })
					}
				}
				p.mu.Unlock()
			}
		})
	}
	return p
}

// firstFailure waits up to d for the first failed request and returns its time (now,
// when none came).
func (p *prober) firstFailure(d time.Duration) time.Time {
	select {
	case <-p.failedc:
	case <-time.After(d):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first.IsZero() {
		return time.Now()
	}
	return p.first
}

// stop ends the load and returns how many requests were sent and failed.
func (p *prober) stop() (int64, int64) {
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.failed
}

package gateway

import (
	"math/rand/v2"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/store"
)

// Outlier ejection: after ejectAfter consecutive failures (5xx or connection errors) a
// backend gets no traffic for ejectBase × times ejected (capped at ejectMax); never more
// than half of a pool is ejected at once.
const (
	ejectAfter = 5
	ejectBase  = 30 * time.Second
	ejectMax   = 5 * time.Minute
)

// backend is one instance the gateway sends requests to.
type backend struct {
	hostport string
	target   *url.URL
	app      string
	revision int
	revLabel string
	instance string

	inflight     atomic.Int64
	failures     atomic.Int32
	ejectedUntil atomic.Int64 // unix nanoseconds
	ejections    atomic.Int32
	removedAt    atomic.Int64 // unix nanoseconds when it left the registry; 0 while registered

	duration prometheus.Observer // the instance's time (upstream)
	exchange prometheus.Observer // the client's whole exchange
	counters counterCache
	conns    conns // kept connections of the fast path
}

func newBackend(ep store.Endpoint, rev int, m *metrics) *backend {
	hp := ep.HostPort()
	b := &backend{hostport: hp, target: &url.URL{Scheme: "http", Host: hp}, app: ep.Name, revision: rev,
		revLabel: ep.Metadata["revision"], instance: ep.Metadata["instance"]}
	if b.instance == "" {
		b.instance = hp
	}
	b.duration, b.exchange = m.observers(b)
	b.counters.init(m, b)
	return b
}

func (b *backend) ejected(now int64) bool { return b.ejectedUntil.Load() > now }

// pool is the backends of one revision (or of a whole app).
type pool struct {
	backends []*backend
}

// pick chooses a backend by the power of two choices on in-flight requests, skipping
// ejected backends and avoid (the one a retry moves away from).
func (p *pool) pick(avoid *backend) *backend {
	n := len(p.backends)
	switch n {
	case 0:
		return nil
	case 1:
		if b := p.backends[0]; b != avoid {
			return b
		}
		return nil
	}
	now := time.Now().UnixNano()
	var a, b *backend
	for try := 0; try < 4 && (a == nil || b == nil); try++ {
		c := p.backends[rand.IntN(n)]
		if c == avoid || c.ejected(now) || c == a {
			continue
		}
		if a == nil {
			a = c
		} else {
			b = c
		}
	}
	if a == nil {
		// unlucky draws or most of the pool ejected: take the first usable one in order
		for _, c := range p.backends {
			if c != avoid && !c.ejected(now) {
				return c
			}
		}
		for _, c := range p.backends {
			if c != avoid {
				return c
			}
		}
		return nil
	}
	if b == nil || a.inflight.Load() <= b.inflight.Load() {
		return a
	}
	return b
}

func (p *pool) empty() bool { return p == nil || len(p.backends) == 0 }

// ejectedCount is how many backends of the pool are ejected now.
func (p *pool) ejectedCount(now int64) int {
	n := 0
	for _, b := range p.backends {
		if b.ejected(now) {
			n++
		}
	}
	return n
}

// result records the outcome of a request to b for outlier detection; it reports
// whether b was ejected by it.
func (r *appRoute) result(b *backend, failed bool) bool {
	if !failed {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return false
	}
	if b.failures.Add(1) < ejectAfter {
		return false
	}
	now := time.Now().UnixNano()
	p := r.byRev[b.revision]
	if p == nil || b.ejected(now) || (p.ejectedCount(now)+1)*2 > len(p.backends) {
		return false
	}
	times := b.ejections.Add(1)
	d := min(time.Duration(times)*ejectBase, ejectMax)
	b.ejectedUntil.Store(now + int64(d))
	b.failures.Store(0)
	return true
}

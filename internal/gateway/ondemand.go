package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// On-demand TLS: a route with tls.onDemand has certificates issued for the hosts it
// claims at their first TLS handshake. The gateway does not order them: a handshake for
// such a host without a certificate records the host as wanted and waits; tend server
// long-polls the wanted hosts (GET /v1/wanted), asks the route's approval URL, orders the
// certificate and pushes it in a routing, which ends the wait.

// Tunables (variables for the tests).
var (
	// onDemandWait bounds a handshake's wait for an on-demand certificate.
	onDemandWait = 20 * time.Second
	// wantedTTL is how long a host stays wanted without getting a certificate.
	wantedTTL = 2 * time.Minute
	// maxWanted bounds the hosts wanted at once, and maxWantedPerClient those one client
	// address made wanted: beyond, handshakes fail at once.
	maxWanted          = 1000
	maxWantedPerClient = 20
)

// WantedHost is a host a TLS client asked for, claimed by a route with tls.onDemand,
// that has no certificate yet.
type WantedHost struct {
	Host string `json:"host"`
	App  string `json:"app"`
	// Seq orders the wanted hosts (nanoseconds since 1970 when first wanted, increasing):
	// GET /v1/wanted?after=SEQ answers the hosts wanted since, so that a host still
	// waiting for its order is not handed out again. A restarted gateway's are larger.
	Seq int64 `json:"seq"`
}

// wantedSet is the wanted hosts, bounded, each once.
type wantedSet struct {
	mu      sync.Mutex
	hosts   map[string]wantedEntry
	changed chan struct{} // closed (and replaced) when a host is added
	lastSeq int64
}

type wantedEntry struct {
	app   string
	seq   int64
	since time.Time
	ip    string // the client that made it wanted
}

func newWantedSet() *wantedSet {
	return &wantedSet{hosts: map[string]wantedEntry{}, changed: make(chan struct{})}
}

// add records host as wanted by app for the client at ip; it is false when the set is
// full, or holds as many hosts of that client as one may make wanted.
func (w *wantedSet) add(host, app, ip string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.hosts[host]; ok && e.app == app && now.Sub(e.since) < wantedTTL {
		return true
	}
	w.pruneLocked(now)
	if len(w.hosts) >= maxWanted {
		return false
	}
	mine := 0
	for _, e := range w.hosts {
		if e.ip == ip {
			mine++
		}
	}
	if mine >= maxWantedPerClient {
		return false
	}
	w.lastSeq = max(w.lastSeq+1, now.UnixNano())
	w.hosts[host] = wantedEntry{app: app, seq: w.lastSeq, since: now, ip: ip}
	close(w.changed)
	w.changed = make(chan struct{})
	return true
}

func (w *wantedSet) pruneLocked(now time.Time) {
	for h, e := range w.hosts {
		if now.Sub(e.since) >= wantedTTL {
			delete(w.hosts, h)
		}
	}
}

// drop forgets the hosts served has a certificate for.
func (w *wantedSet) drop(served func(host string) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for h := range w.hosts {
		if served(h) {
			delete(w.hosts, h)
		}
	}
}

// since lists the hosts wanted after seq, in order, and a channel closed at the next addition.
func (w *wantedSet) since(after int64, now time.Time) ([]WantedHost, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pruneLocked(now)
	var out []WantedHost
	for h, e := range w.hosts {
		if e.seq > after {
			out = append(out, WantedHost{Host: h, App: e.app, Seq: e.seq})
		}
	}
	slices.SortFunc(out, func(a, b WantedHost) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, w.changed
}

// Wanted returns the hosts wanted after seq after (0: all) as soon as there are any,
// or an empty list after wait (nil when ctx ends first).
func (g *Gateway) Wanted(ctx context.Context, after int64, wait time.Duration) []WantedHost {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		list, changed := g.wanted.since(after, time.Now())
		if len(list) > 0 {
			return list
		}
		select {
		case <-changed:
		case <-timer.C:
			return []WantedHost{}
		case <-ctx.Done():
			return nil
		}
	}
}

// onDemandApp is the app whose route would have a certificate issued for host on
// demand: that of the route claiming host (its exact name, else the longest wildcard
// suffix, else a route without hosts, as routing does) with tls.onDemand. A wildcard
// *.example.com gives certificates to the names of one label more only, as a wildcard
// certificate would cover them.
func (t *table) onDemandApp(host string) (string, bool) {
	if !OnDemandHost(host) {
		return "", false
	}
	if rs, ok := t.exact[host]; ok {
		return onDemandOf(rs)
	}
	for _, w := range t.wildcards {
		if label, ok := strings.CutSuffix(host, w.suffix); ok {
			if strings.Contains(label, ".") {
				return "", false
			}
			return onDemandOf(w.routes)
		}
	}
	return onDemandOf(t.fallback)
}

func onDemandOf(rs []*appRoute) (string, bool) {
	for _, r := range rs {
		if r.tls != nil && r.tls.Auto && r.tls.OnDemand != "" {
			return r.app, true
		}
	}
	return "", false
}

// OnDemandHost reports whether host (lowercase) may get an on-demand certificate: a DNS
// name of two labels or more, not an IP address and not a wildcard.
func OnDemandHost(host string) bool {
	if len(host) > 253 || net.ParseIP(host) != nil {
		return false
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// certsChanged is closed at the next routing's certificates.
func (g *Gateway) certsChanged() <-chan struct{} {
	g.certsMu.Lock()
	defer g.certsMu.Unlock()
	return g.certsCh
}

// installCerts makes s the served certificates, wakes the handshakes waiting for one,
// and forgets the wanted hosts s serves.
func (g *Gateway) installCerts(s *certSet) {
	g.certs.Store(s)
	g.certsMu.Lock()
	if g.certsCh != nil {
		close(g.certsCh)
	}
	g.certsCh = make(chan struct{})
	g.certsMu.Unlock()
	g.wanted.drop(func(h string) bool { return s.lookup(h) != nil })
}

// awaitOnDemand records name as wanted by app and waits for a routing with its
// certificate, for onDemandWait at most; a host the server refused fails at once.
func (g *Gateway) awaitOnDemand(name, app, ip string) (*tls.Certificate, error) {
	if g.isDenied(name) {
		g.metrics.handshakes.WithLabelValues("on_demand_denied").Inc()
		return nil, errNoCert
	}
	if !g.wanted.add(name, app, ip, time.Now()) {
		g.metrics.handshakes.WithLabelValues("on_demand_full").Inc()
		g.log.Warn("too many hosts wait for on-demand certificates, in all or from this client: failing the handshake",
			"host", name, "app", app, "client", ip, "max", maxWanted, "maxPerClient", maxWantedPerClient)
		return nil, errNoCert
	}
	timer := time.NewTimer(onDemandWait)
	defer timer.Stop()
	for {
		changed := g.certsChanged() // before looking: a routing in between wakes us
		if c := g.certs.Load().lookup(name); c != nil {
			return c, nil
		}
		if g.isDenied(name) {
			g.metrics.handshakes.WithLabelValues("on_demand_denied").Inc()
			return nil, errNoCert
		}
		select {
		case <-changed:
		case <-timer.C:
			g.metrics.handshakes.WithLabelValues("on_demand_timeout").Inc()
			return nil, errNoCert
		}
	}
}

// setDenied installs the hosts refused on-demand certificates for now, and forgets
// them as wanted.
func (g *Gateway) setDenied(hosts []string) {
	m := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		m[h] = true
	}
	g.denied.Store(&m)
	if len(m) > 0 {
		g.wanted.drop(func(h string) bool { return m[h] })
	}
}

func (g *Gateway) isDenied(host string) bool {
	m := g.denied.Load()
	return m != nil && (*m)[host]
}

// clientIP is the address of the client of a TLS handshake ("" when unknown).
func clientIP(hello *tls.ClientHelloInfo) string {
	if hello.Conn == nil {
		return ""
	}
	return remoteIP(hello.Conn.RemoteAddr().String())
}

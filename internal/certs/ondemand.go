package certs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// On-demand certificates: a route with tls.onDemand claims hosts it does not list (a
// wildcard's names, or every host no other route claims when it lists none). The gateway
// reports the hosts TLS clients ask for without a certificate; Want asks the route's
// approval URL about each and, when it approves, writes a record without a certificate,
// which check orders like any tls.auto host and renews as long as the route claims it.

// Tunables (variables for the tests).
var (
	// approvalTimeout bounds a request to an approval URL.
	approvalTimeout = 5 * time.Second
	// denialTTL is how long a host the approval URL refused is not asked about again.
	denialTTL = time.Minute
	// maxOnDemand bounds the on-demand certificates of one app: beyond, hosts are refused
	// (a client can make up names faster than a CA issues; the approval URL is the guard).
	maxOnDemand = 1000
)

// Want is called for a host a TLS client asked the gateway for, without a certificate,
// that a route of app with tls.onDemand claims: unless the host has a record already,
// it asks the route's approval URL (GET URL?host=HOST; 2xx approves, anything else
// denies, remembered for a minute) and, once approved, records the host for an order.
// It returns once decided, whether the host was denied (it gets no certificate for now:
// the gateway may fail its handshakes at once).
func (m *Manager) Want(host, app string) (denied bool) {
	if m.life.Err() != nil {
		return false // Run has ended
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !gateway.OnDemandHost(host) {
		m.log.Warn("certs: no on-demand certificate for a name that is not a DNS host name", "host", host, "app", app)
		return true
	}
	now := time.Now()
	m.mu.Lock()
	if until, ok := m.denied[host]; ok && now.Before(until) {
		m.mu.Unlock()
		return true
	}
	if m.asking[host] {
		m.mu.Unlock()
		return false
	}
	m.asking[host] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.asking, host)
		m.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(m.life, 30*time.Second)
	defer cancel()
	routes, err := store.List[route.Route](ctx, m.store, store.RoutesPrefix)
	if err != nil {
		m.log.Error("certs: read the routes for an on-demand certificate", "host", host, "err", err)
		return false
	}
	recs, err := m.records(ctx)
	if err != nil {
		m.log.Error("certs: read the certificates for an on-demand certificate", "host", host, "err", err)
		return false
	}
	if _, ok := recs[host]; ok {
		m.Kick() // ordered, or being ordered
		return false
	}
	r := newClaims(routes).onDemand(host)
	if r == nil {
		m.log.Info("certs: no route issues on-demand certificates for the host (any more)", "host", host, "app", app)
		return true
	}
	if r.App != app {
		m.log.Info("certs: the host's on-demand route is another app's now", "host", host, "app", r.App, "gatewaySaid", app)
		app = r.App
	}
	n := 0
	for _, c := range recs {
		if c.OnDemand && c.App == app {
			n++
		}
	}
	if n >= maxOnDemand {
		m.deny(host, app, fmt.Sprintf("the app has %d on-demand certificates, the most tend keeps for one app: list its lasting hosts in route.hosts, which do not count", n), slog.LevelWarn)
		return true
	}
	if ok, why, failed := m.approve(ctx, r.TLS.OnDemand, host); !ok {
		if ctx.Err() != nil && m.life.Err() != nil {
			return false // stopping: not the URL's answer
		}
		level := slog.LevelInfo
		if failed {
			level = slog.LevelWarn
		}
		m.deny(host, app, why, level)
		return true
	}
	rec := store.Certificate{Host: host, App: app, Source: store.CertFromACME, OnDemand: true}
	if _, err := m.store.Commit(ctx, store.Op{Key: store.CertKey(host), Value: rec, IfAbsent: true}); err != nil {
		m.log.Error("certs: write an on-demand certificate record", "host", host, "err", err)
		return false
	}
	m.log.Info("certs: the approval URL approved an on-demand certificate; ordering it", "host", host, "app", app, "url", redact(r.TLS.OnDemand))
	m.Kick()
	return false
}

// approve asks the approval URL about host: approved on a 2xx answer within
// approvalTimeout; otherwise why not, and whether the URL failed (rather than denied).
func (m *Manager) approve(ctx context.Context, approvalURL, host string) (ok bool, why string, failed bool) {
	u, err := url.Parse(approvalURL)
	if err != nil {
		return false, fmt.Sprintf("the route's tls.onDemand is not a URL: %v", err), true
	}
	q := u.Query()
	q.Set("host", host)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, approvalTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, fmt.Sprintf("the route's tls.onDemand %s: %v", redact(approvalURL), err), true
	}
	req.Header.Set("User-Agent", "tend")
	resp, err := m.approvals.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, whose query may hold a secret
		}
		return false, fmt.Sprintf("the approval URL %s did not answer: %v (it must answer 2xx within %s to approve a host)",
			redact(approvalURL), err, approvalTimeout), true
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return true, "", false
	}
	return false, "the approval URL answered " + resp.Status, false
}

// deny remembers that host gets no on-demand certificate for denialTTL, and logs why.
func (m *Manager) deny(host, app, why string, level slog.Level) {
	now := time.Now()
	m.mu.Lock()
	if len(m.denied) >= 1024 {
		for h, until := range m.denied {
			if !now.Before(until) {
				delete(m.denied, h)
			}
		}
	}
	m.denied[host] = now.Add(denialTTL)
	m.mu.Unlock()
	m.log.Log(context.Background(), level, "certs: no on-demand certificate for the host; not asking again for a while", "host", host, "app", app,
		"reason", why, "for", denialTTL.String())
}

// redact is a URL without its query, which may hold a secret.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// claims says which route claims a host, as the gateway routes: the routes listing the
// exact name, else those of the longest wildcard suffix, else those without hosts.
type claims struct {
	exact    map[string][]*route.Route
	wild     []wildClaim // longest suffix first
	fallback []*route.Route
}

type wildClaim struct {
	suffix string // ".example.com"
	routes []*route.Route
}

func newClaims(routes []route.Route) *claims {
	c := &claims{exact: map[string][]*route.Route{}}
	for i := range routes {
		r := &routes[i]
		if len(r.Hosts) == 0 {
			c.fallback = append(c.fallback, r)
			continue
		}
		for _, h := range r.Hosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if rest, ok := strings.CutPrefix(h, "*"); ok {
				c.addWild(rest, r)
				continue
			}
			c.exact[h] = append(c.exact[h], r)
		}
	}
	sort.SliceStable(c.wild, func(i, j int) bool { return len(c.wild[i].suffix) > len(c.wild[j].suffix) })
	return c
}

func (c *claims) addWild(suffix string, r *route.Route) {
	for i := range c.wild {
		if c.wild[i].suffix == suffix {
			c.wild[i].routes = append(c.wild[i].routes, r)
			return
		}
	}
	c.wild = append(c.wild, wildClaim{suffix: suffix, routes: []*route.Route{r}})
}

// onDemand is the route with tls.onDemand that would have a certificate issued for
// host (nil: none): among the routes claiming host, one with tls.auto and onDemand. A
// wildcard *.example.com gives certificates to the names of one label more only.
func (c *claims) onDemand(host string) *route.Route {
	if rs, ok := c.exact[host]; ok {
		return onDemandOf(rs)
	}
	for _, w := range c.wild {
		if label, ok := strings.CutSuffix(host, w.suffix); ok {
			if label == "" || strings.Contains(label, ".") {
				return nil
			}
			return onDemandOf(w.routes)
		}
	}
	return onDemandOf(c.fallback)
}

func onDemandOf(rs []*route.Route) *route.Route {
	for _, r := range rs {
		if r.TLS != nil && r.TLS.Auto && r.TLS.OnDemand != "" {
			return r
		}
	}
	return nil
}

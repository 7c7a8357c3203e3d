package gateway

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// table is an immutable snapshot of the routes, read without locks on the request path.
type table struct {
	exact     map[string][]*appRoute // host → routes, longest pathPrefix first
	wildcards []wildcard             // "*.example.com", longest suffix first
	fallback  []*appRoute            // apps without hosts, longest pathPrefix first
	apps      []*appRoute
}

type wildcard struct {
	suffix string // ".example.com"
	routes []*appRoute
}

// appRoute is one app's routing: its pools by revision and how requests are split among them.
type appRoute struct {
	app     string
	hosts   []string // as the route names them; none: every host no other app claims
	prefix  string
	all     *pool
	byRev   map[int]*pool
	splits  []split
	total   int
	matches []match
	preview *pool
	// previewToken is the secret that reaches preview (header X-Tend-Preview); without one
	// nothing does, but from the gateway's PreviewFrom addresses
	previewToken string
	previewFrom  []netip.Prefix // the gateway's PreviewFrom
	// mirror receives a copy of mirrorPercent of the GET and HEAD requests that other pools serve
	mirror        *pool
	mirrorPercent int
	metrics       *appMetrics
	// limits; the timeouts are the gateway's defaults unless the route says otherwise
	maxBody         int64
	responseTimeout time.Duration
	bodyTimeout     time.Duration
	connectTimeout  time.Duration
	h2              bool // instances speak HTTP/2 without TLS (protocol http2: gRPC)
	maintenance     *route.Maintenance
	tls             *route.TLS // served over HTTPS too
	hsts            string     // Strict-Transport-Security over HTTPS ("": none)
	redirect        bool       // plain HTTP gets 308 to the gateway's HTTPS listener
}

type split struct {
	revision int
	upTo     int // cumulative weight
	pool     *pool
}

type match struct {
	cookie bool
	name   string
	value  string
	pool   *pool
}

// lookup finds the route for host (lowercase, port stripped) and path.
func (t *table) lookup(host, path string) *appRoute {
	if rs, ok := t.exact[host]; ok {
		if r := byPrefix(rs, path); r != nil {
			return r
		}
	}
	for _, w := range t.wildcards {
		if strings.HasSuffix(host, w.suffix) {
			if r := byPrefix(w.routes, path); r != nil {
				return r
			}
		}
	}
	return byPrefix(t.fallback, path)
}

func byPrefix(rs []*appRoute, path string) *appRoute {
	for _, r := range rs {
		if strings.HasPrefix(path, r.prefix) {
			return r
		}
	}
	return nil
}

// normalHost lowercases host and strips its port; it allocates only for upper-case hosts.
func normalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// build makes a table from routes and registry endpoints, reusing backends (and so
// their in-flight counts and ejection state) from the previous table.
func (g *Gateway) build(routes []route.Route, endpoints []store.Endpoint) *table {
	byApp := map[string][]*backend{}
	seen := map[string]bool{}
	for _, ep := range endpoints {
		b := g.backendFor(ep)
		seen[b.hostport] = true
		byApp[ep.Name] = append(byApp[ep.Name], b)
	}
	g.retireBackends(seen)

	t := &table{exact: map[string][]*appRoute{}}
	routed := map[string]bool{}
	add := func(r *appRoute, hosts []string) {
		r.hosts = hosts
		t.apps = append(t.apps, r)
		if len(hosts) == 0 {
			t.fallback = append(t.fallback, r)
			return
		}
		for _, h := range hosts {
			h = normalHost(h)
			if strings.HasPrefix(h, "*.") {
				t.addWildcard(h[1:], r)
				continue
			}
			t.exact[h] = append(t.exact[h], r)
		}
	}
	for _, rt := range routes {
		routed[rt.App] = true
		add(g.appRoute(rt, byApp[rt.App]), rt.Hosts)
	}
	// services in the registry without a route (registered by kit, not deployed by tend)
	// are reachable with Host: <name>
	names := make([]string, 0, len(byApp))
	for name := range byApp {
		if !routed[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		add(g.appRoute(route.Route{App: name, PathPrefix: "/"}, byApp[name]), []string{name})
	}
	sortRoutes := func(rs []*appRoute) {
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	}
	for _, rs := range t.exact {
		sortRoutes(rs)
	}
	for _, w := range t.wildcards {
		sortRoutes(w.routes)
	}
	sort.SliceStable(t.wildcards, func(i, j int) bool { return len(t.wildcards[i].suffix) > len(t.wildcards[j].suffix) })
	sortRoutes(t.fallback)
	return t
}

func (t *table) addWildcard(suffix string, r *appRoute) {
	for i := range t.wildcards {
		if t.wildcards[i].suffix == suffix {
			t.wildcards[i].routes = append(t.wildcards[i].routes, r)
			return
		}
	}
	t.wildcards = append(t.wildcards, wildcard{suffix: suffix, routes: []*appRoute{r}})
}

func (g *Gateway) appRoute(rt route.Route, backends []*backend) *appRoute {
	prefix := rt.PathPrefix
	if prefix == "" {
		prefix = "/"
	}
	sort.Slice(backends, func(i, j int) bool { return backends[i].hostport < backends[j].hostport })
	r := &appRoute{app: rt.App, prefix: prefix, all: &pool{backends: backends}, byRev: map[int]*pool{},
		metrics: g.metrics.app(rt.App), maxBody: rt.MaxBody, h2: rt.Protocol == "http2", maintenance: rt.Maintenance, tls: rt.TLS, hsts: hsts(rt.TLS),
		redirect: rt.TLS != nil && rt.TLS.Redirect && g.o.HTTPSPort != 0, responseTimeout: g.o.ResponseTimeout, bodyTimeout: g.o.BodyTimeout,
		connectTimeout: DefaultConnectTimeout}
	if rt.ResponseTimeout > 0 {
		r.responseTimeout = rt.ResponseTimeout
	}
	if rt.BodyTimeout > 0 {
		r.bodyTimeout = rt.BodyTimeout
	}
	if rt.ConnectTimeout > 0 {
		r.connectTimeout = rt.ConnectTimeout
	}
	for _, b := range backends {
		p := r.byRev[b.revision]
		if p == nil {
			p = &pool{}
			r.byRev[b.revision] = p
		}
		p.backends = append(p.backends, b)
	}
	poolOf := func(rev int) *pool {
		if p := r.byRev[rev]; p != nil {
			return p
		}
		return &pool{}
	}
	for _, s := range rt.Splits {
		if s.Weight <= 0 {
			continue
		}
		r.total += s.Weight
		r.splits = append(r.splits, split{revision: s.Revision, upTo: r.total, pool: poolOf(s.Revision)})
	}
	for _, m := range rt.Matches {
		r.matches = append(r.matches, match{cookie: m.Kind == "cookie", name: m.Name, value: m.Value, pool: poolOf(m.Revision)})
	}
	if rt.Preview != 0 {
		r.previewToken, r.previewFrom = rt.PreviewToken, g.o.PreviewFrom
		r.preview = poolOf(rt.Preview)
	}
	if rt.Mirror != 0 && rt.MirrorPercent > 0 {
		r.mirror, r.mirrorPercent = poolOf(rt.Mirror), rt.MirrorPercent
	}
	return r
}

// backendFor returns the backend of an endpoint, the same object as long as it stays registered.
func (g *Gateway) backendFor(ep store.Endpoint) *backend {
	hp := ep.HostPort()
	rev, _ := strconv.Atoi(ep.Metadata["revision"])
	g.bmu.Lock()
	defer g.bmu.Unlock()
	if b, ok := g.backends[hp]; ok && b.app == ep.Name && b.revision == rev {
		b.removedAt.Store(0)
		b.conns.reopen()
		return b
	}
	b := newBackend(ep, rev, g.metrics)
	g.backends[hp] = b
	return b
}

// retireBackends marks backends that left the registry; they are forgotten once idle.
func (g *Gateway) retireBackends(live map[string]bool) {
	now := time.Now().UnixNano()
	g.bmu.Lock()
	defer g.bmu.Unlock()
	for hp, b := range g.backends {
		if live[hp] {
			continue
		}
		if b.removedAt.Load() == 0 {
			b.removedAt.Store(now)
			b.conns.close()
		} else if b.inflight.Load() == 0 && now-b.removedAt.Load() > int64(time.Minute) {
			delete(g.backends, hp)
		}
	}
}

// hsts is the Strict-Transport-Security value of a route's TLS settings ("": none).
func hsts(t *route.TLS) string {
	if t == nil || t.HSTS <= 0 {
		return ""
	}
	return "max-age=" + strconv.FormatInt(int64(t.HSTS/time.Second), 10)
}

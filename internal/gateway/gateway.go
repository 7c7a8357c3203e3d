// Package gateway is tend's reverse proxy: it routes requests by host, path, header and cookie to app revisions by weight, balances, retries and ejects.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"

	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// Options configure a Gateway.
type Options struct {
	Logger *slog.Logger
	// AccessLog writes one JSON line per request.
	AccessLog bool
	// Registerer receives the gateway's metrics; nil means no metrics are exported.
	Registerer prometheus.Registerer
	// ResponseTimeout bounds the wait for an instance's response head (504 after it);
	// zero means DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// BodyTimeout bounds the wait between reads of a request body (408 after it); zero
	// means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// PreviewFrom are the client addresses whose X-Tend-Preview: 1 reaches a revision
	// being previewed, without the rollout's token (an office network, say).
	PreviewFrom []netip.Prefix
	// HTTPSPort is the HTTPS listener's port, where plain requests for apps served over
	// TLS are redirected (0: no HTTPS listener, no redirect).
	HTTPSPort int
	// Tracing, when set, gives every request a span (tracing.go), collected with Spans.
	Tracing *TraceOptions
}

// Gateway proxies requests to app instances. Its routing table is replaced atomically
// when routes or endpoints change and read without locks.
type Gateway struct {
	o       Options
	log     *slog.Logger
	table   atomic.Pointer[table]
	certs   atomic.Pointer[certSet]
	certsMu sync.Mutex
	certsCh chan struct{}                   // closed when the next routing's certificates are installed
	wanted  *wantedSet                      // hosts waiting for on-demand certificates
	denied  atomic.Pointer[map[string]bool] // hosts refused on-demand certificates for now
	proxy   *httputil.ReverseProxy
	h2proxy *httputil.ReverseProxy // to instances of routes with protocol http2 (h2c: gRPC)
	metrics *metrics
	states  sync.Pool
	reqSeq  atomic.Uint64
	reqBase string

	bmu      sync.Mutex
	backends map[string]*backend

	mirrors      chan struct{} // bounds the mirrored requests in flight
	mirrorClient *http.Client

	tracer *tracer // nil: no spans
}

// New returns a gateway with an empty table (every request answers 503 until routes arrive).
func New(o Options) *Gateway {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	g := &Gateway{o: o, log: o.Logger, metrics: newMetrics(o.Registerer), backends: map[string]*backend{}, wanted: newWantedSet(),
		mirrors: make(chan struct{}, maxMirrored), reqBase: strconv.FormatUint(rand.Uint64()&0xffffffffff, 36) + "-"}
	g.states.New = func() any { return &reqState{} }
	if o.Tracing != nil {
		g.tracer = &tracer{o: *o.Tracing}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialRoute,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      transport,
		BufferPool:     bufferPool{},
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	h2 := &http.Transport{
		DialContext:         dialRoute,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		Protocols:           new(http.Protocols),
	}
	h2.Protocols.SetUnencryptedHTTP2(true)
	g.h2proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      h2,
		BufferPool:     bufferPool{},
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       g.proxy.ErrorLog,
	}
	g.mirrorClient = &http.Client{Timeout: 10 * time.Second, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	g.table.Store(&table{exact: map[string][]*appRoute{}})
	g.setTLS(nil, nil)
	return g
}

// reqState travels with one request through the proxy's callbacks.
type reqState struct {
	in      *http.Request
	route   *appRoute
	pool    *pool
	backend *backend
	code    int
	retried bool
	failed  bool // the last attempt failed before a response
	timeout bool // ... because the instance did not answer within the response timeout
	fast    bool // the request takes the fast path (forward.go), not ReverseProxy
	body    *clientBody
	waiting *headWait // ReverseProxy's wait for the response head, bounded by the route's timeout
	// headAt is when the instance's response head came (zero: none came)
	headAt time.Time
	// hsts is the Strict-Transport-Security the answer gets unless the app sent its own
	hsts string
	// grpcDeadline is when a gRPC call's own deadline (grpc-timeout) passes: a call that
	// fails after it failed on the client's clock, not for the instance's fault
	grpcDeadline time.Time
	// span is the request's trace context, when the gateway traces
	span reqSpan
}

// headWait cancels a ReverseProxy round trip whose response head has not come within
// the route's response timeout (net/http's Transport takes one timeout for all routes).
type headWait struct {
	answered atomic.Bool
	expired  atomic.Bool
	once     sync.Once // the timer is armed once at most, and never after stop
	timer    *time.Timer
}

// waitHead arms the response timeout: at once for a request without a body, when the
// body has been sent for one with a body (the time a client takes to upload is not the
// instance's silence), and never for gRPC, whose calls carry their own deadlines.
func (g *Gateway) waitHead(st *reqState, cancel context.CancelFunc) {
	hw := &headWait{}
	st.waiting = hw
	if isGRPC(st.in.Header) {
		return
	}
	timeout := st.route.responseTimeout // st is reused once the request is answered
	arm := func() {
		hw.once.Do(func() {
			hw.timer = time.AfterFunc(timeout, func() {
				if !hw.answered.Load() {
					hw.expired.Store(true)
					cancel()
				}
			})
		})
	}
	if st.body == nil {
		arm()
		return
	}
	st.body.onEnd = arm
}

// stop disarms the timer, if it was armed; a late end of the body arms nothing more.
func (hw *headWait) stop() {
	hw.once.Do(func() {})
	if hw.timer != nil {
		hw.timer.Stop()
	}
}

type stateKey struct{}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.TLS == nil {
		r.TLS, _ = r.Context().Value(tlsStateKey{}).(*tls.ConnectionState) // HTTPS read by the loop first
	}
	if g.answerChallenge(w, r) {
		return
	}
	t := g.table.Load()
	rt := t.lookup(normalHost(r.Host), r.URL.Path)
	if rt == nil {
		http.Error(w, "tend: no app is routed for host "+r.Host, http.StatusNotFound)
		return
	}
	if rt.redirect && r.TLS == nil && !rt.previewOverPlain(r) {
		g.redirectHTTPS(w, r)
		return
	}
	if rt.maintenance != nil {
		writeMaintenance(w, rt, r.Header.Get("Accept"))
		return
	}
	p := rt.choose((*httpRequest)(r), r.RemoteAddr)
	r.Header.Del(previewHeader) // for the gateway only: never the instance's
	if rt.mirror != nil && p != rt.mirror && rand.IntN(100) < rt.mirrorPercent {
		g.mirror(rt, r)
	}
	b := p.pick(nil)
	if b == nil {
		http.Error(w, "tend: "+rt.app+" has no ready instance", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", g.reqBase+strconv.FormatUint(g.reqSeq.Add(1), 36))
	}
	st := g.states.Get().(*reqState)
	*st = reqState{route: rt, pool: p, in: r, fast: fastPath(r) && !rt.h2}
	if r.TLS != nil {
		st.hsts = rt.hsts
	}
	if g.tracer != nil {
		g.tracer.begin(&st.span, r.Header.Get("Traceparent"))
		r.Header.Set("Traceparent", st.span.header)
	}
	if r.Body != nil && r.Body != http.NoBody {
		if rt.maxBody > 0 && r.ContentLength > rt.maxBody {
			*st = reqState{}
			g.states.Put(st)
			http.Error(w, "tend: the request body is larger than this route takes ("+strconv.FormatInt(rt.maxBody, 10)+" bytes)", http.StatusRequestEntityTooLarge)
			return
		}
		timeout := rt.bodyTimeout
		if isGRPC(r.Header) {
			timeout = 0 // a gRPC stream may stay quiet as long as its call lasts
		}
		st.body = newClientBody(w, r, rt.maxBody, timeout)
		r.Body = st.body
	}
	if d, ok := grpcTimeout(r.Header); ok {
		st.grpcDeadline = start.Add(d)
	}
	if !st.fast {
		// ReverseProxy's callbacks find the state in the context
		ctx, cancel := context.WithCancel(context.WithValue(context.WithValue(r.Context(), stateKey{}, st), connectTimeoutKey{}, rt.connectTimeout))
		defer cancel()
		g.waitHead(st, cancel)
		defer st.waiting.stop()
		st.in = r.WithContext(ctx)
	}
	rt.metrics.inflight.Inc()
	// deferred: a response cut short aborts the handler with http.ErrAbortHandler
	defer g.finish(st, r, start)
	g.attempt(w, st, b)
}

// finish records a request's outcome once it is answered or aborted.
func (g *Gateway) finish(st *reqState, r *http.Request, start time.Time) {
	rt, b := st.route, st.backend
	rt.metrics.inflight.Dec()
	end := time.Now()
	upstream := upstreamTime(start, st.bodyEnd(), st.headAt, end)
	kept := g.tracer != nil && g.tracer.end(&st.span, finished{route: rt, backend: b, code: st.code, retried: st.retried, answered: !st.headAt.IsZero(),
		upstream: upstream}, r.Method, r.URL.Path, r.Host, start, end)
	observeLatency(b.duration, upstream, kept, &st.span)
	b.exchange.Observe(end.Sub(start).Seconds())
	b.counters.inc(r.Method, st.code)
	if g.o.AccessLog {
		attrs := []slog.Attr{slog.String("app", rt.app), slog.Int("revision", b.revision),
			slog.String("instance", b.instance), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", st.code), slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr), slog.String("request_id", r.Header.Get("X-Request-Id")), slog.Bool("retried", st.retried)}
		if g.tracer != nil {
			attrs = append(attrs, slog.String("trace_id", st.span.trace.String()), slog.String("span_id", st.span.id.String()))
		}
		g.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}
	*st = reqState{}
	g.states.Put(st)
}

// attempt proxies the request to b, and once to another backend when the connection
// failed before any response and the request may be repeated.
func (g *Gateway) attempt(w http.ResponseWriter, st *reqState, b *backend) {
	st.backend = b
	g.send(w, st, b)
	if !st.failed || st.retried || st.timeout || !retryable(st.in) {
		if st.failed {
			st.writeBadGateway(w)
		}
		return
	}
	next := st.pool.pick(b)
	if next == nil && st.pool != st.route.all {
		next = st.route.all.pick(b)
	}
	if next == nil {
		st.writeBadGateway(w)
		return
	}
	st.retried, st.failed = true, false
	st.route.metrics.retries.Inc()
	g.attempt(w, st, next)
}

// send proxies the request to b once, counting it in flight on b.
func (g *Gateway) send(w http.ResponseWriter, st *reqState, b *backend) {
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	switch {
	case st.fast:
		g.forward(w, st)
	case st.route.h2:
		g.h2proxy.ServeHTTP(w, st.in)
	default:
		g.proxy.ServeHTTP(w, st.in)
	}
}

func (st *reqState) writeBadGateway(w http.ResponseWriter) {
	if st.timeout {
		st.code = http.StatusGatewayTimeout
		http.Error(w, "tend: "+st.route.app+" instance "+st.backend.instance+" did not answer in time", http.StatusGatewayTimeout)
		return
	}
	st.code = http.StatusBadGateway
	http.Error(w, "tend: "+st.route.app+" instance "+st.backend.instance+" unreachable", http.StatusBadGateway)
}

// retryable reports whether a request may be sent again: an idempotent method and no
// body, or a body that can be replayed.
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.GetBody != nil
}

// requestHeaders is what choose reads of a request: net/http's request or the
// connection loop's head.
type requestHeaders interface {
	header(name string) string
	cookie(name string) (string, bool)
}

// httpRequest gives a net/http request the requestHeaders methods.
type httpRequest http.Request

func (r *httpRequest) header(name string) string { return r.Header.Get(name) }

func (r *httpRequest) cookie(name string) (string, bool) {
	c, err := (*http.Request)(r).Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

// choose picks the pool for a request: preview header, match rules, then weights.
func (rt *appRoute) choose(r requestHeaders, remote string) *pool {
	if rt.preview != nil && rt.previewed(r.header(previewHeader), remote) {
		return rt.preview
	}
	for i := range rt.matches {
		m := &rt.matches[i]
		if m.pool.empty() {
			continue
		}
		if !m.cookie {
			if r.header(m.name) == m.value {
				return m.pool
			}
		} else if v, ok := r.cookie(m.name); ok && v == m.value {
			return m.pool
		}
	}
	if rt.total == 0 {
		return rt.all
	}
	n := rand.IntN(rt.total)
	for i := range rt.splits {
		if s := &rt.splits[i]; n < s.upTo {
			if !s.pool.empty() {
				return s.pool
			}
			break
		}
	}
	// the chosen revision has no ready instance: use another revision of the split
	for i := range rt.splits {
		if !rt.splits[i].pool.empty() {
			return rt.splits[i].pool
		}
	}
	return &pool{}
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	pr.SetURL(st.backend.target)
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
}

func (g *Gateway) modifyResponse(resp *http.Response) error {
	st := resp.Request.Context().Value(stateKey{}).(*reqState)
	st.waiting.answered.Store(true)
	st.headAt = time.Now()
	st.code = resp.StatusCode
	addHSTS(resp.Header, st.hsts)
	addTraceparent(resp.Header, st.span.header)
	if resp.StatusCode == http.StatusOK && isGRPC(resp.Header) {
		// the call's status comes at its end
		resp.Body = &grpcBody{ReadCloser: resp.Body, resp: resp, g: g, st: st}
		return nil
	}
	if st.route.result(st.backend, resp.StatusCode >= 500) {
		g.ejected(st.route, st.backend)
	}
	return nil
}

// proxyError handles a failed round trip: with nothing sent to the client yet, attempt
// decides whether to retry or answer 502.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	g.roundTripFailed(w, r.Context().Value(stateKey{}).(*reqState), err)
}

// roundTripFailed records a round trip that got no response. When the client's side
// failed (it left, or its body could not be read) the client gets the 4xx and the
// instance is not blamed.
func (g *Gateway) roundTripFailed(w http.ResponseWriter, st *reqState, err error) {
	r := st.in
	if code, msg := st.body.fault(); code != 0 {
		st.code = code
		if code == statusClientGone {
			panic(http.ErrAbortHandler)
		}
		http.Error(w, msg, code)
		return
	}
	expired := st.waiting != nil && st.waiting.expired.Load()
	if !st.grpcDeadline.IsZero() && !time.Now().Before(st.grpcDeadline) && r.Context().Err() == nil && isGRPC(r.Header) {
		// the call's own deadline passed (the instance gave up on it too): answer as a
		// gRPC server does, so that the client reads DEADLINE_EXCEEDED whichever of its
		// timer and this answer comes first, not a reset stream (INTERNAL)
		st.code = statusClientGone
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", "4")
		h.Set("Grpc-Message", "deadline exceeded")
		w.WriteHeader(http.StatusOK)
		return
	}
	if !expired && (errors.Is(err, context.Canceled) || r.Context().Err() != nil) ||
		!st.grpcDeadline.IsZero() && !time.Now().Before(st.grpcDeadline) {
		st.code = statusClientGone
		// nothing may be written: without this, net/http would answer an empty 200
		panic(http.ErrAbortHandler)
	}
	st.failed = true
	st.timeout = expired || timedOut(err) && !dialFailed(err) // a connection never made: retried, then 502
	st.code = http.StatusBadGateway
	g.backendFailed(st.route, st.backend, err)
}

// backendFailed records a round trip to b that got no response, for outlier ejection.
func (g *Gateway) backendFailed(rt *appRoute, b *backend, err error) {
	if rt.result(b, true) {
		g.ejected(rt, b)
	}
	g.log.Debug("proxy error", "app", rt.app, "instance", b.instance, "err", err)
}

func (g *Gateway) ejected(rt *appRoute, b *backend) {
	rt.metrics.ejections.WithLabelValues(b.app, b.instance).Inc()
	g.log.Warn("instance ejected after consecutive failures", "app", b.app, "instance", b.instance,
		"until", time.Unix(0, b.ejectedUntil.Load()).Format(time.RFC3339))
}

// SetState builds a table from routes and endpoints and installs it atomically.
func (g *Gateway) SetState(routes []route.Route, endpoints []store.Endpoint) {
	g.table.Store(g.build(routes, endpoints))
}

// Drain waits until the backend at hostport is out of the table and has no request in
// flight, or ctx ends. The runtime calls it between deregistering an instance and SIGTERM.
func (g *Gateway) Drain(ctx context.Context, hostport string) error {
	const settle = 100 * time.Millisecond // let requests that read the old table start
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		g.bmu.Lock()
		b := g.backends[hostport]
		g.bmu.Unlock()
		if b == nil {
			return nil
		}
		if removed := b.removedAt.Load(); removed != 0 && time.Since(time.Unix(0, removed)) > settle && b.inflight.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// AppState is what the gateway knows about one app, for status displays.
type AppState struct {
	App        string          `json:"app"`
	Hosts      []string        `json:"hosts,omitempty"`
	PathPrefix string          `json:"pathPrefix"`
	Splits     []route.Split   `json:"splits,omitempty"`
	Endpoints  []EndpointState `json:"endpoints"`
}

// EndpointState is one backend's live numbers.
type EndpointState struct {
	Address  string `json:"address"`
	Revision int    `json:"revision"`
	Instance string `json:"instance"`
	InFlight int64  `json:"inFlight"`
	Ejected  bool   `json:"ejected"`
}

// Snapshot reports every routed app and its backends.
func (g *Gateway) Snapshot() []AppState {
	now := time.Now().UnixNano()
	var out []AppState
	for _, rt := range g.table.Load().apps {
		s := AppState{App: rt.app, Hosts: rt.hosts, PathPrefix: rt.prefix}
		prev := 0
		for _, sp := range rt.splits {
			s.Splits = append(s.Splits, route.Split{Revision: sp.revision, Weight: sp.upTo - prev})
			prev = sp.upTo
		}
		for _, b := range rt.all.backends {
			s.Endpoints = append(s.Endpoints, EndpointState{Address: b.hostport, Revision: b.revision, Instance: b.instance,
				InFlight: b.inflight.Load(), Ejected: b.ejected(now)})
		}
		out = append(out, s)
	}
	return out
}

// bufferPool lends the proxy 32 KiB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

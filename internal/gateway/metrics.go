package gateway

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus series. Label children are created when a
// backend appears, so that the request path only indexes small arrays.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	exchange  *prometheus.HistogramVec
	inflight  *prometheus.GaugeVec
	retries   *prometheus.CounterVec
	ejections *prometheus.CounterVec
	mirrored  *prometheus.CounterVec

	connections prometheus.Gauge
	refused     *prometheus.CounterVec
	handshakes  *prometheus.CounterVec

	mu   sync.Mutex
	apps map[string]*appMetrics
}

type appMetrics struct {
	inflight  prometheus.Gauge
	retries   prometheus.Counter
	ejections *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_requests_total",
			Help: "Requests the gateway answered, by app, revision, instance, method and status code."},
			[]string{"app", "revision", "instance", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tend_gateway_request_duration_seconds",
			Help:    "The instance's time: from a request sent to it (its body included) to its response head, by app and revision. What canary analysis, the latency alerts and the dashboard judge: a client uploading or downloading slowly does not count.",
			Buckets: latencyBuckets}, []string{"app", "revision"}),
		exchange: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tend_gateway_exchange_duration_seconds",
			Help:    "The client's time: from a request's head received to the end of its response, its upload and download included, by app and revision.",
			Buckets: latencyBuckets}, []string{"app", "revision"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_gateway_inflight_requests",
			Help: "Requests in progress, by app."}, []string{"app"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_retries_total",
			Help: "Idempotent requests retried on another instance after a connection failure, by app."}, []string{"app"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_ejections_total",
			Help: "Instances taken out of rotation for consecutive failures, by app and instance."}, []string{"app", "instance"}),
		mirrored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_mirrored_requests_total",
			Help: "Copies of user requests sent to a canary (strategy.canary.mirror), by app, revision and the canary's status code (\"error\": no answer, \"dropped\": too many copies in flight); not in tend_gateway_requests_total."},
			[]string{"app", "revision", "code"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tend_gateway_client_connections",
			Help: "Client connections open."}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_tls_handshake_errors_total",
			Help: "TLS handshakes the gateway failed, by reason (no_sni, unknown_host: no certificate for the name; on_demand_timeout: no on-demand certificate within 20s; on_demand_full: too many hosts waiting for one; no_challenge; other)."}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_gateway_connections_refused_total",
			Help: "Client connections closed at once because a cap was reached, by cap (total, client)."}, []string{"cap"}),
		apps: map[string]*appMetrics{},
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.exchange, m.inflight, m.retries, m.ejections, m.mirrored, m.connections, m.refused, m.handshakes)
	}
	return m
}

func (m *metrics) app(name string) *appMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.apps[name]; ok {
		return a
	}
	a := &appMetrics{inflight: m.inflight.WithLabelValues(name), retries: m.retries.WithLabelValues(name), ejections: m.ejections}
	m.apps[name] = a
	return a
}

// latencyBuckets are the request-time histograms' buckets, in seconds.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// observers are a backend's upstream (instance) and exchange (client) time histograms.
func (m *metrics) observers(b *backend) (upstream, exchange prometheus.Observer) {
	return m.duration.WithLabelValues(b.app, b.revLabel), m.exchange.WithLabelValues(b.app, b.revLabel)
}

// observeLatency records an instance's time; for a request whose span is kept, with its
// trace id as the bucket's exemplar, so that a latency graph leads to a trace.
func observeLatency(o prometheus.Observer, d time.Duration, kept bool, s *reqSpan) {
	if kept {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": s.trace.String()})
			return
		}
	}
	o.Observe(d.Seconds())
}

// methods are the methods counted by name; others count as "other".
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"}

func methodIndex(m string) int {
	for i, name := range methods[:len(methods)-1] {
		if m == name {
			return i
		}
	}
	return len(methods) - 1
}

// counterCache holds a backend's request counters by method and status code. Reads
// of a sync.Map whose keys are stable take no lock.
type counterCache struct {
	m  *metrics
	b  *backend
	by sync.Map // uint32(method<<16 | code) → prometheus.Counter
}

func (c *counterCache) init(m *metrics, b *backend) { c.m, c.b = m, b }

// inc counts one request; a child is created on the first use of a (method, code) pair.
func (c *counterCache) inc(method string, code int) {
	mi := methodIndex(method)
	key := uint32(mi)<<16 | uint32(code&0xffff)
	if v, ok := c.by.Load(key); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	ctr := c.m.requests.WithLabelValues(c.b.app, c.b.revLabel, c.b.instance, methods[mi], strconv.Itoa(code))
	v, _ := c.by.LoadOrStore(key, ctr)
	v.(prometheus.Counter).Inc()
}

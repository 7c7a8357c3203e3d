// Package metrics gives a service its Prometheus metrics: requests, errors and durations by route pattern, in-flight requests, Go and process collectors, and business counters.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tendhq/tend/kit/response"
	"github.com/tendhq/tend/kit/route"
)

// Metrics holds a registry and the HTTP series.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// New makes a registry with the Go and process collectors and the HTTP series:
// http_requests_total{route,method,code}, http_request_duration_seconds{route,method}
// and http_requests_in_flight.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "Time to serve a request, by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_requests_in_flight", Help: "Requests being served."}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Middleware counts requests by route pattern (from route.Track and route.Mux), so that
// /users/123 and /users/456 are one series, /users/{id}. Use it inside route.Track. A
// request whose handler panicked before writing counts as 500.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		rec := response.Wrap(w)
		done := false
		defer func() {
			m.inflight.Dec()
			pattern, method, code := route.Pattern(r), normalMethod(r.Method), rec.Code()
			if !done && rec.Status == 0 {
				code = http.StatusInternalServerError // a panic, which an outer middleware.Recover answers with 500
			}
			m.requests.WithLabelValues(pattern, method, codeText(code)).Inc()
			m.duration.WithLabelValues(pattern, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
		done = true
	})
}

// Counter registers a business counter, e.g. orders_created_total{channel}.
func (m *Metrics) Counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(c)
	return c
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// normalMethod keeps the method label to a fixed set.
func normalMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// codes holds the decimal text of every status code, so counting does not allocate.
var codes = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return
}()

func codeText(c int) string {
	if c >= 0 && c < len(codes) {
		return codes[c]
	}
	return strconv.Itoa(c)
}

package certs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/store"
)

var (
	expiryDesc = prometheus.NewDesc("tend_certificate_expiry_seconds",
		"Seconds until the certificate the gateway serves for host expires (negative: expired).", []string{"host"}, nil)
	failuresDesc = prometheus.NewDesc("tend_certificate_renewal_failures",
		"Failures to obtain, renew or load the certificate of host since its last success.", []string{"host"}, nil)
)

// Collector exports tend_certificate_expiry_seconds{host} (for the hosts that have a
// certificate) and tend_certificate_renewal_failures{host}, read from the store at each
// collection.
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expiryDesc
	ch <- failuresDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := store.List[store.Certificate](ctx, c.m.store, store.CertsPrefix)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(expiryDesc, err)
		ch <- prometheus.NewInvalidMetric(failuresDesc, err)
		return
	}
	now := time.Now()
	for _, r := range recs {
		if r.CertPEM != "" && !r.NotAfter.IsZero() {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, r.NotAfter.Sub(now).Seconds(), r.Host)
		}
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(r.Failures), r.Host)
	}
}

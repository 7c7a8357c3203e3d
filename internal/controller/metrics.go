package controller

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/rollout"
)

// metrics exports where each app's rollout stands and what its analyses decided.
type metrics struct {
	phase    *prometheus.GaugeVec
	weight   *prometheus.GaugeVec
	revision *prometheus.GaugeVec
	verdicts *prometheus.CounterVec
	measured *prometheus.CounterVec
	desired  *prometheus.GaugeVec
	ratio    *prometheus.GaugeVec
}

var phases = []rollout.Phase{rollout.Progressing, rollout.Paused, rollout.Completed, rollout.Reverting,
	rollout.RolledBack, rollout.Aborted, rollout.Failed}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_rollout_phase",
			Help: "1 for the phase each app's rollout is in, 0 for the others."}, []string{"app", "phase"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_rollout_canary_weight_percent",
			Help: "Share of traffic the revision being rolled out gets now."}, []string{"app"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_rollout_revision",
			Help: "Revision numbers of each app's stable revision and of the one being rolled out (role=canary)."}, []string{"app", "role"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_analysis_verdicts_total",
			Help: "Analysis verdicts, by app and result (pass, fail, inconclusive)."}, []string{"app", "result"}),
		measured: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tend_analysis_measurements_total",
			Help: "Analysis measurements, by app and result (pass, fail, inconclusive, waiting)."}, []string{"app", "result"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_autoscale_desired_instances",
			Help: "The instance count the autoscaler decided at its last sync, by app."}, []string{"app"}),
		ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tend_autoscale_metric_ratio",
			Help: "Each autoscale target's current value over its target at the last sync (1: on target), by app and metric."}, []string{"app", "metric"}),
	}
	if reg != nil {
		reg.MustRegister(m.phase, m.weight, m.revision, m.verdicts, m.measured, m.desired, m.ratio)
	}
	return m
}

// observe sets an app's rollout gauges from its state.
func (m *metrics) observe(st *rollout.State) {
	for _, p := range phases {
		v := 0.0
		if st.Phase == p {
			v = 1
		}
		m.phase.WithLabelValues(st.App, string(p)).Set(v)
	}
	m.revision.WithLabelValues(st.App, "stable").Set(float64(st.Stable))
	if st.Phase.Terminal() {
		m.weight.WithLabelValues(st.App).Set(0)
		m.revision.WithLabelValues(st.App, "canary").Set(0)
		return
	}
	m.weight.WithLabelValues(st.App).Set(float64(st.Weight))
	m.revision.WithLabelValues(st.App, "canary").Set(float64(st.To))
}

// forget removes a deleted app's series, so that no dashboard or alert sees it as
// still rolling out (a deploy of the same name brings them back).
func (m *metrics) forget(app string) {
	app1 := prometheus.Labels{"app": app}
	m.phase.DeletePartialMatch(app1)
	m.weight.DeletePartialMatch(app1)
	m.revision.DeletePartialMatch(app1)
	m.verdicts.DeletePartialMatch(app1)
	m.measured.DeletePartialMatch(app1)
	m.forgetAutoscale(app)
}

// observeAutoscale sets an app's autoscale gauges from a decision.
func (m *metrics) observeAutoscale(app string, d autoscale.Decision) {
	m.desired.WithLabelValues(app).Set(float64(d.Desired))
	for _, r := range d.Results {
		if r.Err == nil {
			m.ratio.WithLabelValues(app, r.Metric).Set(r.Ratio)
		} else {
			m.ratio.DeleteLabelValues(app, r.Metric)
		}
	}
}

// forgetAutoscale removes an app's autoscale series (no longer autoscaled, or deleted).
func (m *metrics) forgetAutoscale(app string) {
	app1 := prometheus.Labels{"app": app}
	m.desired.DeletePartialMatch(app1)
	m.ratio.DeletePartialMatch(app1)
}

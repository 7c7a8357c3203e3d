package spec

import "time"

// Defaults, in one place. A field left out of tend.yaml takes the value here:
//
//	instances                      1
//	route.pathPrefix               /
//	route.hosts                    none: the app gets every host no other app claims
//	health.readiness               GET / every 2s, timeout 1s, 3 failures to fail, 1 success to pass
//	health.readiness.interval      2s
//	health.liveness                none (an instance is restarted only when it exits)
//	health.liveness.interval       10s
//	health.*.timeout               1s
//	health.*.failureThreshold      3
//	health.*.successThreshold      1
//	resources                      no limits
//	shutdown.grace                 30s between SIGTERM and SIGKILL
//	shutdown.drain                 2s for in-flight requests after leaving the gateway
//	strategy                       rolling
//	strategy.rolling.maxSurge      25% (rounded up)
//	strategy.rolling.maxUnavailable 0
//	strategy.progressDeadline      5m
//	strategy.rollbackWindow        10m
//	strategy.blueGreen.autoPromote false (wait for `tend promote`)
//	strategy.canary.steps          [{weight: 20}, {pause: {}}]
//	metrics                        GET /metrics on the instance's ADMIN_PORT (kit serves it there)
//	analysis.interval              5s (one measurement each interval)
//	analysis.count                 3 measurements, then the step passes
//	analysis.failureLimit          0: the first failed measurement fails the analysis
//	analysis.inconclusiveLimit     0: the first inconclusive measurement makes it inconclusive (the rollout pauses)
//	analysis.minRequests           50 canary requests in the window before a measurement counts
//	analysis.onFailure             rollback
//	analysis.checks                error-rate max 1% and latency-p99 max 1s, with baseline comparison
//	check.tolerance                20% worse than stable still passes a baseline comparison
const (
	DefaultReadinessPath     = "/"
	DefaultReadinessInterval = 2 * time.Second
	DefaultLivenessInterval  = 10 * time.Second
	DefaultProbeTimeout      = time.Second
	DefaultFailureThreshold  = 3
	DefaultGrace             = 30 * time.Second
	DefaultDrain             = 2 * time.Second
	DefaultMaxSurgePercent   = 25
	DefaultProgressDeadline  = 5 * time.Minute
	DefaultRollbackWindow    = 10 * time.Minute
	DefaultAnalysisInterval  = 5 * time.Second
	DefaultAnalysisCount     = 3
	DefaultMinRequests       = 50
	DefaultTolerance         = 0.2
	DefaultMetricsPath       = "/metrics"
	DefaultCanaryWeight      = 20
)

// setDefaults fills every field the spec left out.
func (a *App) setDefaults() {
	a.setBackupDefaults()
	if as := a.Autoscale; as != nil {
		as.setDefaults()
		if a.Instances == 0 {
			a.Instances = as.Min
		}
	}
	if a.Instances == 0 {
		a.Instances = 1
	}
	if a.Route.PathPrefix == "" {
		a.Route.PathPrefix = "/"
	}
	if a.Health.Readiness == nil {
		a.Health.Readiness = &Probe{HTTP: DefaultReadinessPath}
	}
	a.Health.Readiness.setDefaults(DefaultReadinessInterval)
	if a.Health.Liveness != nil {
		a.Health.Liveness.setDefaults(DefaultLivenessInterval)
	}
	if a.Shutdown.Grace == 0 {
		a.Shutdown.Grace = DefaultGrace
	}
	if a.Shutdown.Drain == 0 {
		a.Shutdown.Drain = DefaultDrain
	}
	s := &a.Strategy
	if s.Rolling == nil && s.BlueGreen == nil && s.Canary == nil {
		s.Rolling = &Rolling{MaxSurge: IntOrPercent{Value: DefaultMaxSurgePercent, Percent: true}}
	}
	if s.ProgressDeadline == 0 {
		s.ProgressDeadline = DefaultProgressDeadline
	}
	if s.RollbackWindow == 0 {
		s.RollbackWindow = DefaultRollbackWindow
	}
	if bg := s.BlueGreen; bg != nil && bg.Analysis != nil {
		bg.Analysis.setDefaults()
	}
	if c := s.Canary; c != nil {
		if len(c.Steps) == 0 {
			w := DefaultCanaryWeight
			c.Steps = []CanaryStep{{Weight: &w}, {Pause: &Pause{}}}
		}
		if c.Analysis == nil {
			c.Analysis = &Analysis{}
		}
		c.Analysis.setDefaults()
	}
	if !a.Metrics.Disabled {
		if a.Metrics.Path == "" {
			a.Metrics.Path = DefaultMetricsPath
		}
		if a.Metrics.Port == "" {
			a.Metrics.Port = "admin"
		}
	}
}

// setDefaults fills the canary-wide analysis defaults; steps inherit them.
func (a *Analysis) setDefaults() {
	if a.Interval == 0 {
		a.Interval = DefaultAnalysisInterval
	}
	if a.Count == 0 {
		a.Count = DefaultAnalysisCount
	}
	if a.MinRequests == 0 {
		a.MinRequests = DefaultMinRequests
	}
	if a.OnFailure == "" {
		a.OnFailure = "rollback"
	}
	if len(a.Checks) == 0 {
		a.Checks = []Check{
			{Name: "error-rate", Max: &Threshold{Text: "1%", Value: 0.01}, Baseline: true},
			{Name: "latency-p99", Max: &Threshold{Text: "1s", Value: 1}, Baseline: true},
		}
	}
	for i := range a.Checks {
		if a.Checks[i].Baseline && a.Checks[i].Tolerance == 0 {
			a.Checks[i].Tolerance = DefaultTolerance
		}
	}
}

func (p *Probe) setDefaults(interval time.Duration) {
	if p.HTTP == "" && !p.TCP && p.GRPC == nil {
		p.HTTP = DefaultReadinessPath
	}
	if p.Interval == 0 {
		p.Interval = interval
	}
	if p.Timeout == 0 {
		// shorter than the interval, which validation asks of a timeout the user writes
		p.Timeout = min(DefaultProbeTimeout, p.Interval/2)
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
}

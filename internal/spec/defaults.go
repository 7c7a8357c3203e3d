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
//	analysis.interval              10s
//	analysis.onFailure             rollback
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
	DefaultAnalysisInterval  = 10 * time.Second
	DefaultCanaryWeight      = 20
)

// setDefaults fills every field the spec left out.
func (a *App) setDefaults() {
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
	if c := s.Canary; c != nil {
		if len(c.Steps) == 0 {
			w := DefaultCanaryWeight
			c.Steps = []CanaryStep{{Weight: &w}, {Pause: &Pause{}}}
		}
		if c.Analysis == nil {
			c.Analysis = &Analysis{}
		}
		if c.Analysis.Interval == 0 {
			c.Analysis.Interval = DefaultAnalysisInterval
		}
		if c.Analysis.OnFailure == "" {
			c.Analysis.OnFailure = "rollback"
		}
	}
}

func (p *Probe) setDefaults(interval time.Duration) {
	if p.HTTP == "" {
		p.HTTP = DefaultReadinessPath
	}
	if p.Interval == 0 {
		p.Interval = interval
	}
	if p.Timeout == 0 {
		p.Timeout = min(DefaultProbeTimeout, p.Interval)
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
}

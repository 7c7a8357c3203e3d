package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// DefaultAutoscaleInterval is the autoscaler's sync period: the HPA's 15s.
const DefaultAutoscaleInterval = 15 * time.Second

// autoscaleWindow is what rates (CPU, requests) are taken over, and how long a new
// instance's CPU is not trusted (its start is in the sample).
const autoscaleWindow = 30 * time.Second

// keepChanges is how many of an app's autoscaler changes are kept.
const keepChanges = 100

// autoscaler is one app's autoscaling state, owned by its loop.
type autoscaler struct {
	scaler autoscale.Scaler
	next   time.Time
	// last is the latest sync's decision (nil before the first one).
	last *autoscale.Decision
}

// autoscale runs one sync of the app's autoscaler when one is due: it measures the
// app's instances, decides by the HPA's algorithm, and scales the app as `tend scale`
// does (the count and the rollout's count committed together, an event recorded).
// During a rollout the count sized is the app's (the stable revision's), from the load
// on every instance that serves (autoscale.DuringRollout); the rollout sizes the new
// revision from it.
func (l *appLoop) autoscale(ctx context.Context, now time.Time) {
	as := l.rec.Spec.Autoscale
	if as == nil || l.rec.ScaledToZero {
		if l.as.last != nil {
			l.c.metrics.forgetAutoscale(l.app)
		}
		l.as = autoscaler{}
		return
	}
	if now.Before(l.as.next) {
		return
	}
	l.as.next = now.Add(l.c.o.AutoscaleInterval)
	current := l.replicas()
	var results []autoscale.Result
	if l.c.o.Metrics == nil {
		results = []autoscale.Result{{Metric: "metrics", Err: fmt.Errorf("this tend server has no metrics to scale by")}}
	} else {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		results = l.measure(qctx, as, current, now)
		cancel()
	}
	d := l.as.scaler.Decide(autoscale.Input{Now: now, Current: current, Min: max(as.Min, l.rec.Floor), Max: max(as.Max, l.rec.Floor),
		Behavior: as.Behavior, Results: results})
	l.as.last = &d
	l.c.metrics.observeAutoscale(l.app, d)
	if d.Desired == current {
		return
	}
	prev := l.rec
	l.rec.Instances = d.Desired
	next := *l.st
	next.Replicas = d.Desired
	if _, err := l.c.o.Store.Commit(ctx, store.Op{Key: store.AppKey(l.app), Value: l.rec}, store.Op{Key: store.RolloutKey(l.app), Value: next}); err != nil {
		l.rec = prev
		l.log.Error("autoscale: record the new instance count", "from", current, "to", d.Desired, "err", err)
		return
	}
	l.st.Replicas = d.Desired
	l.as.scaler.Scaled(now, current, d.Desired)
	l.event(ctx, "autoscale", l.st.Stable, fmt.Sprintf("autoscale %d → %d: %s", current, d.Desired, d.Reason))
	l.recordChange(ctx, store.AutoscaleChange{At: now, From: current, To: d.Desired, Metric: d.Metric, Limit: d.Limit, Reason: d.Reason})
}

// recordChange appends a change to the app's AutoscaleRecord, keeping the newest.
func (l *appLoop) recordChange(ctx context.Context, c store.AutoscaleChange) {
	var rec store.AutoscaleRecord
	if err := l.c.o.Store.Get(ctx, store.AutoscaleKey(l.app), &rec); err != nil && !errors.Is(err, store.ErrNotFound) {
		l.log.Error("autoscale: read the recorded changes", "err", err)
	}
	rec.Changes = append(rec.Changes, c)
	if n := len(rec.Changes); n > keepChanges {
		rec.Changes = rec.Changes[n-keepChanges:]
	}
	if err := l.c.o.Store.Put(ctx, store.AutoscaleKey(l.app), rec); err != nil {
		l.log.Error("autoscale: record the change", "err", err)
	}
}

// measure evaluates each target over the app's instances.
func (l *appLoop) measure(ctx context.Context, as *spec.Autoscale, current int, now time.Time) []autoscale.Result {
	var instances []autoscale.Instance
	cpuRequests, memRequests := map[string]float64{}, map[string]float64{}
	// the revisions that serve: warm ones kept for a rollback get no traffic
	serving := map[int]bool{l.st.Stable: true}
	if !l.st.Phase.Terminal() {
		serving[l.st.From], serving[l.st.To] = true, true
	}
	for _, in := range l.c.o.Runtime.Instances(l.app) {
		if in.State == runtime.Stopping || in.State == runtime.Backoff || !serving[in.Revision] {
			continue // the HPA ignores pods being deleted and pods that failed
		}
		instances = append(instances, autoscale.Instance{ID: in.ID, Pending: in.State == runtime.Starting,
			Unready: in.State != runtime.Ready || now.Sub(in.ReadySince) < autoscaleWindow})
		res := l.rec.Spec.Resources
		if r, ok := l.revisions[in.Revision]; ok {
			res = r.Spec.Resources
		}
		cpuRequests[in.ID] = 1000 // no cpu set: a share of one core
		if res.MilliCPU > 0 {
			cpuRequests[in.ID] = float64(res.MilliCPU)
		}
		memRequests[in.ID] = float64(res.MemoryBytes)
	}
	sel := fmt.Sprintf(`{app=%q}`, l.app)
	w := "[" + autoscaleWindow.String() + "]"
	var out []autoscale.Result
	t := as.Targets
	if t.CPU > 0 {
		q := "1000 * (sum by (instance) (rate(tend_instance_cpu_seconds_total" + sel + w + ")) or sum by (instance) (rate(process_cpu_seconds_total" + sel + w + ")))"
		out = append(out, l.perInstance(ctx, now, current, instances, autoscale.Metric{Name: "cpu", Kind: autoscale.Utilization, Target: float64(t.CPU),
			Requests: cpuRequests, CPU: true}, q))
	}
	if t.Memory > 0 {
		q := "max by (instance) (tend_instance_resident_memory_bytes" + sel + ") or max by (instance) (process_resident_memory_bytes" + sel + ")"
		out = append(out, l.perInstance(ctx, now, current, instances, autoscale.Metric{Name: "memory", Kind: autoscale.Utilization, Target: float64(t.Memory),
			Requests: memRequests}, q))
	}
	if t.RPS > 0 {
		q := "sum by (instance) (rate(tend_gateway_requests_total" + sel + w + "))"
		out = append(out, l.perInstance(ctx, now, current, instances, autoscale.Metric{Name: "rps", Kind: autoscale.Average, Target: t.RPS}, q))
	}
	for _, c := range t.Custom {
		out = append(out, l.custom(ctx, now, current, instances, c))
	}
	for i := range out {
		out[i] = autoscale.DuringRollout(out[i], current)
	}
	return out
}

// perInstance runs q, whose samples carry an instance label, into m.Values.
func (l *appLoop) perInstance(ctx context.Context, now time.Time, current int, instances []autoscale.Instance, m autoscale.Metric, q string) autoscale.Result {
	v, err := l.c.o.Metrics.Query(ctx, q, now)
	if err != nil {
		return autoscale.Result{Metric: m.Name, Kind: m.Kind, Target: m.Target, Replicas: current, Err: fmt.Errorf("query the metrics: %w", err)}
	}
	m.Values = byInstance(v)
	return autoscale.Replicas(current, instances, m)
}

// byInstance is a query's samples keyed by their instance label.
func byInstance(v monitor.Vector) map[string]float64 {
	out := map[string]float64{}
	for _, s := range v {
		if id := s.Labels["instance"]; id != "" {
			out[id] = s.Value
		}
	}
	return out
}

// custom runs a custom target's query: a value per instance when its samples carry an
// instance label, else the app's total.
func (l *appLoop) custom(ctx context.Context, now time.Time, current int, instances []autoscale.Instance, c spec.CustomTarget) autoscale.Result {
	m := autoscale.Metric{Name: c.Name, Kind: autoscale.Average, Target: c.Target}
	v, err := l.c.o.Metrics.Query(ctx, c.Query, now)
	if err != nil {
		return autoscale.Result{Metric: c.Name, Kind: m.Kind, Target: c.Target, Replicas: current, Err: fmt.Errorf("query %q: %w", c.Query, err)}
	}
	perInstance := false
	for _, s := range v {
		if _, ok := s.Labels["instance"]; ok {
			perInstance = true
		}
		m.Sum += s.Value
	}
	if !perInstance {
		if len(v) == 0 {
			return autoscale.Result{Metric: c.Name, Kind: autoscale.Total, Target: c.Target, Replicas: current, Err: fmt.Errorf("query %q has no result", c.Query)}
		}
		m.Kind = autoscale.Total
		return autoscale.Replicas(current, instances, m)
	}
	m.Values = byInstance(v)
	return autoscale.Replicas(current, instances, m)
}

// AutoscaleStatus is what `tend status` shows of an autoscaled app.
type AutoscaleStatus struct {
	Min, Max int
	// Floor is tend scale's count, the fewest until the next deploy (0: none).
	Floor   int
	Current int
	// Last is the latest sync's decision (nil before the first one).
	Last *autoscale.Decision
	// Note says what a target is measured against when the spec leaves it open.
	Note string
}

// autoscaleStatus is the loop's autoscaling state for Status (nil: not autoscaled).
func (l *appLoop) autoscaleStatus() *AutoscaleStatus {
	as := l.rec.Spec.Autoscale
	if as == nil {
		return nil
	}
	s := &AutoscaleStatus{Min: as.Min, Max: as.Max, Floor: l.rec.Floor, Current: l.replicas(), Last: l.as.last}
	var notes []string
	if as.Targets.CPU > 0 && l.rec.Spec.Resources.MilliCPU == 0 {
		notes = append(notes, "cpu is a share of one core: the spec sets no resources.cpu")
	}
	if l.rec.ScaledToZero {
		notes = append(notes, "scaled to zero: the autoscaler waits for tend scale APP N")
	}
	s.Note = strings.Join(notes, "; ")
	return s
}

// AutoscaleChanges lists the changes the autoscaler made to app, oldest first, and
// its status now.
func (c *Controller) AutoscaleChanges(ctx context.Context, app string) ([]store.AutoscaleChange, *AutoscaleStatus, error) {
	l, err := c.existing(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	var st *AutoscaleStatus
	if err := l.do(ctx, func(context.Context) error {
		if err := l.deployed(); err != nil {
			return err
		}
		st = l.autoscaleStatus()
		return nil
	}); err != nil {
		return nil, nil, err
	}
	var rec store.AutoscaleRecord
	if err := c.o.Store.Get(ctx, store.AutoscaleKey(app), &rec); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	return rec.Changes, st, nil
}

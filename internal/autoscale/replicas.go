// Package autoscale decides an app's instance count from its metrics by the algorithm of Kubernetes' HorizontalPodAutoscaler.
package autoscale

import (
	"errors"
	"fmt"
	"math"
)

// Tolerance is the HPA's: a ratio of metric to target within 10% of 1 changes nothing.
const Tolerance = 0.1

// Kind is how a metric's target is stated.
type Kind int

const (
	// Utilization is a share of each instance's request (CPU, memory): the HPA's
	// Resource metric with an averageUtilization, Target in percent.
	Utilization Kind = iota
	// Average is a value per instance, averaged: the HPA's Pods metric with an
	// averageValue.
	Average
	// Total is one value for the whole app, Target per instance: the HPA's External
	// metric with an averageValue.
	Total
)

// Instance is one of the app's instances as the HPA sees a pod. Instances that are
// stopping or have failed are not given at all (the HPA ignores deleted and failed pods).
type Instance struct {
	ID string
	// Pending is an instance that has never been ready since it started (a pod not
	// running yet): its samples count for no metric.
	Pending bool
	// Unready is an instance whose CPU sample does not tell its load: not ready, or ready
	// for less than one sample window (its start is in the sample: the HPA's
	// cpuInitializationPeriod). Only CPU ignores it.
	Unready bool
}

// Metric is one target with the values measured for it.
type Metric struct {
	// Name is what the decision says: cpu, memory, rps or a custom target's name.
	Name   string
	Kind   Kind
	Target float64
	// Values are per instance: usage (Utilization, in the unit of Requests) or the value
	// (Average). An instance without a value is missing its metrics.
	Values map[string]float64
	// Requests are each instance's request (Utilization): resources.cpu or memory.
	Requests map[string]float64
	// Sum is the app's value (Total).
	Sum float64
	// CPU makes Unready instances' samples ignored, as the HPA does for CPU alone.
	CPU bool
}

// Result is what one metric asks for.
type Result struct {
	Metric string  `json:"metric"`
	Kind   Kind    `json:"-"`
	Target float64 `json:"target"`
	// Value is the metric now: utilization in percent, the average per instance, or
	// the total per current instance.
	Value float64 `json:"value"`
	// Ratio is Value / Target.
	Ratio float64 `json:"ratio"`
	// Instances is how many instances' samples the value is over.
	Instances int `json:"instances"`
	Replicas  int `json:"replicas"`
	// Err says why the metric gave no count (no data yet, every instance unready).
	Err error `json:"-"`
}

// ErrNoData is a metric without a value for any instance that may be counted.
var ErrNoData = errors.New("no samples yet from a ready instance")

// Replicas is the instance count metric m asks for with current instances, as the
// HPA's replica calculator computes it: ceil(ratio × instances measured), the current
// count while the ratio is within Tolerance, missing samples taken as the target on a
// scale down and as 0 on a scale up, pending (and for CPU unready) instances ignored
// unless the app scales up, where they count as 0; no change when filling those in
// would turn the direction around.
func Replicas(current int, instances []Instance, m Metric) Result {
	r := Result{Metric: m.Name, Kind: m.Kind, Target: m.Target, Replicas: current}
	if m.Kind == Total {
		return total(current, m, r)
	}
	values := map[string]float64{}
	ignored := map[string]bool{}
	var missing []string
	ready := 0
	for _, in := range instances {
		v, ok := m.Values[in.ID]
		switch {
		case in.Pending || (m.CPU && in.Unready):
			ignored[in.ID] = true
		case !ok:
			missing = append(missing, in.ID)
		default:
			values[in.ID] = v
			ready++
		}
	}
	if len(values) == 0 {
		r.Err = ErrNoData
		return r
	}
	ratio := m.ratio(values)
	r.Ratio, r.Value, r.Instances = ratio, ratio*m.Target, len(values)
	rebalance := len(ignored) > 0 && ratio > 1
	if !rebalance && len(missing) == 0 {
		if math.Abs(1-ratio) > Tolerance {
			r.Replicas = int(math.Ceil(ratio * float64(ready)))
		}
		return r
	}
	for _, id := range missing {
		switch {
		case ratio < 1 && m.Kind == Utilization:
			// on a scale down, a missing instance is taken as using its whole request
			// (or the target, when the target is above 100%)
			values[id] = m.Requests[id] * max(100, m.Target) / 100
		case ratio < 1:
			values[id] = m.Target
		case ratio > 1:
			values[id] = 0
		}
		// at exactly 1, a missing instance is left out
	}
	if rebalance {
		for id := range ignored {
			values[id] = 0
		}
	}
	fresh := m.ratio(values)
	if math.Abs(1-fresh) <= Tolerance || (ratio < 1 && fresh > 1) || (ratio > 1 && fresh < 1) {
		return r
	}
	n := int(math.Ceil(fresh * float64(len(values))))
	if (fresh < 1 && n > current) || (fresh > 1 && n < current) {
		return r
	}
	r.Replicas = n
	return r
}

// ratio is the metric's value over its target for the instances in values.
func (m Metric) ratio(values map[string]float64) float64 {
	if m.Kind == Utilization {
		var used, requested float64
		for id, v := range values {
			used += v
			requested += m.Requests[id]
		}
		if requested == 0 {
			return 0
		}
		return used / requested * 100 / m.Target
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values)) / m.Target
}

// DuringRollout is r for an app whose rollout runs instances on top of its count
// (a canary beside the stable revision, a surge): the instances the load needs in all
// (the HPA's ceil(ratio × instances measured)) against the app's count, current, with
// the tolerance taken on that ratio. Otherwise a canary's instances, measured with the
// stable's, would make the count grow by their share at every sync.
func DuringRollout(r Result, current int) Result {
	if r.Err != nil || r.Kind == Total || current <= 0 || r.Instances <= current {
		return r
	}
	need := r.Ratio * float64(r.Instances)
	if math.Abs(1-need/float64(current)) <= Tolerance {
		r.Replicas = current
	} else {
		r.Replicas = int(math.Ceil(need))
	}
	return r
}

// total is an app-wide value with a target per instance, as the HPA's external
// per-pod metric: ceil(value / target) once value / (target × current) leaves the
// tolerance.
func total(current int, m Metric, r Result) Result {
	if current <= 0 {
		r.Err = errors.New("no instance runs")
		return r
	}
	r.Ratio = m.Sum / (m.Target * float64(current))
	r.Value, r.Instances = m.Sum/float64(current), current
	if math.Abs(1-r.Ratio) > Tolerance {
		r.Replicas = int(math.Ceil(m.Sum / m.Target))
	}
	return r
}

// String is how a decision shows the result: "cpu 142% of 70% over 3 instances → 5".
func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: %v", r.Metric, r.Err)
	}
	unit := ""
	if r.Kind == Utilization {
		unit = "%"
	}
	over := fmt.Sprintf("over %d instances", r.Instances)
	if r.Instances == 1 {
		over = "over 1 instance"
	}
	if r.Kind == Total {
		over = fmt.Sprintf("per instance of %d", r.Instances)
	}
	return fmt.Sprintf("%s %s%s (target %s%s) %s → %d", r.Metric, num(r.Value), unit, num(r.Target), unit, over, r.Replicas)
}

// num prints a metric value with three significant digits, whole above 1000.
func num(v float64) string {
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

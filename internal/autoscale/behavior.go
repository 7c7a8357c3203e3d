package autoscale

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// Scaler holds what the HPA remembers between syncs of one app: the recommendations
// of the stabilization windows and the changes the rate policies count. Like the
// HPA's, it lives in memory: after a restart, the windows start empty.
type Scaler struct {
	recs    []sample
	changes []sample
}

// sample is a count at a time: a recommendation, or a change (+ up, - down).
type sample struct {
	at time.Time
	n  int
}

// Input is one sync: the app's size now, its bounds and behavior, and each metric's
// result.
type Input struct {
	Now      time.Time
	Current  int
	Min, Max int
	Behavior spec.Behavior
	Results  []Result
}

// Decision is what one sync decided, and why.
type Decision struct {
	At      time.Time `json:"at"`
	Current int       `json:"current"`
	// Recommended is what the metrics ask for, before stabilization and limits.
	Recommended int `json:"recommended"`
	Desired     int `json:"desired"`
	// Metric is the metric that asked for the most instances ("" when none could).
	Metric  string   `json:"metric,omitempty"`
	Results []Result `json:"results"`
	// Limit says what held the count back: "", "stabilized", "policy", "max", "min".
	Limit string `json:"limit,omitempty"`
	// Reason is the decision in words: "rps 125 (target 50) over 2 instances → 5,
	// limited by policy pods: 4 per 15s → 4".
	Reason string `json:"reason"`
}

// Decide is one sync of the HPA's controller: the largest metric recommendation (none
// when every metric failed, and no scale down when some did), stabilized over the
// windows, then bounded by the rate policies and by min and max.
func (s *Scaler) Decide(in Input) Decision {
	d := Decision{At: in.Now, Current: in.Current, Desired: in.Current, Results: in.Results}
	switch {
	case in.Current > in.Max:
		d.Recommended, d.Desired, d.Limit = in.Max, in.Max, "max"
		d.Reason = fmt.Sprintf("%d instances are more than max %d → %d", in.Current, in.Max, in.Max)
		return d
	case in.Current < in.Min:
		d.Recommended, d.Desired, d.Limit = in.Min, in.Min, "min"
		d.Reason = fmt.Sprintf("%d instances are fewer than min %d → %d", in.Current, in.Min, in.Min)
		return d
	}
	rec, failed, best := 0, 0, -1
	var words []string
	for i, r := range in.Results {
		words = append(words, r.String())
		if r.Err != nil {
			failed++
			continue
		}
		if r.Replicas > rec {
			rec, best = r.Replicas, i
		}
	}
	if best >= 0 {
		d.Metric = in.Results[best].Metric
	}
	switch {
	case len(in.Results) == 0 || failed == len(in.Results):
		d.Recommended = in.Current
		d.Reason = "no metric to decide by: " + strings.Join(words, "; ") + fmt.Sprintf(" → %d kept", in.Current)
		return d
	case failed > 0 && rec < in.Current:
		d.Recommended = in.Current
		d.Reason = strings.Join(words, "; ") + fmt.Sprintf(" → %d kept: no scale down while a metric is missing", in.Current)
		return d
	}
	d.Recommended = rec
	reason := strings.Join(words, "; ")
	stable := s.stabilize(in, rec)
	if stable != rec {
		d.Limit = "stabilized"
		dir, w := "down", in.Behavior.ScaleDown.StabilizationWindow
		if stable < rec {
			dir, w = "up", in.Behavior.ScaleUp.StabilizationWindow
		}
		reason += fmt.Sprintf(", held at %d by the scale-%s stabilization window (%s)", stable, dir, w)
	}
	desired, limit, why := s.limit(in, stable)
	if desired != stable {
		d.Limit = limit
		reason += fmt.Sprintf(", %s → %d", why, desired)
	}
	d.Desired = desired
	if desired == in.Current {
		reason += fmt.Sprintf(" (%d kept)", desired)
	}
	d.Reason = reason
	return d
}

// Scaled records a change of the app's count, made at at, for the rate policies.
func (s *Scaler) Scaled(at time.Time, from, to int) {
	if from != to {
		s.changes = append(s.changes, sample{at, to - from})
	}
}

// stabilize records rec and returns the count the windows allow: at least the lowest
// recommendation of the scale-up window, at most the highest of the scale-down
// window, the current count in between.
func (s *Scaler) stabilize(in Input, rec int) int {
	upCut := in.Now.Add(-in.Behavior.ScaleUp.StabilizationWindow)
	downCut := in.Now.Add(-in.Behavior.ScaleDown.StabilizationWindow)
	up, down := rec, rec
	kept := s.recs[:0]
	for _, r := range s.recs {
		if r.at.After(upCut) {
			up = min(up, r.n)
		}
		if r.at.After(downCut) {
			down = max(down, r.n)
		}
		if r.at.After(upCut) || r.at.After(downCut) {
			kept = append(kept, r)
		}
	}
	s.recs = append(kept, sample{in.Now, rec})
	n := in.Current
	if n < up {
		n = up
	}
	if n > down {
		n = down
	}
	return n
}

// limit bounds desired by the direction's rate policies and by min and max, saying
// which one held it back.
func (s *Scaler) limit(in Input, desired int) (int, string, string) {
	longest := time.Duration(0)
	for _, p := range append(in.Behavior.ScaleUp.Policies, in.Behavior.ScaleDown.Policies...) {
		longest = max(longest, p.Period)
	}
	kept := s.changes[:0]
	for _, c := range s.changes {
		if in.Now.Sub(c.at) <= longest {
			kept = append(kept, c)
		}
	}
	s.changes = kept
	switch {
	case desired > in.Current:
		bound, policy := s.upLimit(in)
		bound = max(bound, in.Current)
		if in.Max < bound {
			if desired > in.Max {
				return in.Max, "max", fmt.Sprintf("limited by max %d", in.Max)
			}
			return desired, "", ""
		}
		if desired > bound {
			return bound, "policy", "limited by policy " + policy
		}
	case desired < in.Current:
		bound, policy := s.downLimit(in)
		bound = min(bound, in.Current)
		if in.Min > bound {
			if desired < in.Min {
				return in.Min, "min", fmt.Sprintf("limited by min %d", in.Min)
			}
			return desired, "", ""
		}
		if desired < bound {
			return bound, "policy", "limited by policy " + policy
		}
	}
	return desired, "", ""
}

// periodStart is the count the app had period ago, from the changes made since.
func (s *Scaler) periodStart(in Input, period time.Duration) int {
	n := in.Current
	for _, c := range s.changes {
		if c.at.After(in.Now.Add(-period)) {
			n -= c.n
		}
	}
	return n
}

// upLimit is the most instances the scale-up policies allow now, and the policy that
// sets it.
func (s *Scaler) upLimit(in Input) (int, string) {
	r := in.Behavior.ScaleUp
	if r.Select == "disabled" {
		return in.Current, "select: disabled (scale up is off)"
	}
	best, which := 0, ""
	for i, p := range r.Policies {
		start := s.periodStart(in, p.Period)
		n := start + p.Pods
		if p.Percent > 0 {
			// rounded up, so that a small app can grow at all
			n = int(math.Ceil(float64(start) * (1 + float64(p.Percent)/100)))
		}
		if i == 0 || (r.Select == "min" && n < best) || (r.Select != "min" && n > best) {
			best, which = n, policyWords(p)
		}
	}
	return best, which
}

// downLimit is the fewest instances the scale-down policies allow now, and the policy
// that sets it.
func (s *Scaler) downLimit(in Input) (int, string) {
	r := in.Behavior.ScaleDown
	if r.Select == "disabled" {
		return in.Current, "select: disabled (scale down is off)"
	}
	best, which := 0, ""
	for i, p := range r.Policies {
		start := s.periodStart(in, p.Period)
		n := start - p.Pods
		if p.Percent > 0 {
			n = int(float64(start) * (1 - float64(p.Percent)/100))
		}
		if i == 0 || (r.Select == "min" && n > best) || (r.Select != "min" && n < best) {
			best, which = n, policyWords(p)
		}
	}
	return best, which
}

// policyWords is a policy as a decision says it: "pods: 4 per 15s".
func policyWords(p spec.ScalingPolicy) string {
	if p.Percent > 0 {
		return fmt.Sprintf("percent: %d%% per %s", p.Percent, p.Period)
	}
	return fmt.Sprintf("pods: %d per %s", p.Pods, p.Period)
}

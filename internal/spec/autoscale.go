package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Autoscale sizes the app between Min and Max instances from its metrics, by the
// algorithm of Kubernetes' HorizontalPodAutoscaler (autoscaling/v2), whose fields and
// defaults these are.
type Autoscale struct {
	Min      int              `json:"min"`
	Max      int              `json:"max"`
	Targets  AutoscaleTargets `json:"targets"`
	Behavior Behavior         `json:"behavior"`
}

// AutoscaleTargets are the values each instance should run at; the metric that asks
// for the most instances wins.
type AutoscaleTargets struct {
	// CPU is the target share of resources.cpu (of one core without it), in percent
	// (the HPA's averageUtilization); 0: not a target.
	CPU int `json:"cpu,omitempty"`
	// Memory is the target share of resources.memory, in percent; 0: not a target.
	Memory int `json:"memory,omitempty"`
	// RPS is the requests per second each instance should serve, as the gateway counts
	// them (a Pods metric with an averageValue); 0: not a target.
	RPS float64 `json:"rps,omitempty"`
	// Custom are PromQL queries with their targets.
	Custom []CustomTarget `json:"custom,omitempty"`
}

// CustomTarget is a PromQL query and the value it should have per instance. A result
// with an instance label is a value per instance (the HPA's Pods metric, averaged);
// otherwise the results are summed into the app's total, to be divided among instances
// (an External metric with an averageValue).
type CustomTarget struct {
	Name   string  `json:"name"`
	Query  string  `json:"query"`
	Target float64 `json:"target"`
}

// Behavior bounds how fast the instance count may change, each way.
type Behavior struct {
	ScaleUp   ScalingRules `json:"scaleUp"`
	ScaleDown ScalingRules `json:"scaleDown"`
}

// ScalingRules are one direction's stabilization window and rate policies.
type ScalingRules struct {
	// StabilizationWindow: scaling up takes the lowest recommendation of the window,
	// scaling down the highest, so that a short swing does not move the count.
	StabilizationWindow time.Duration   `json:"stabilizationWindow"`
	Policies            []ScalingPolicy `json:"policies"`
	// Select is max (the policy allowing the biggest change), min, or disabled (no
	// change this way).
	Select string `json:"select"`
}

// ScalingPolicy allows a change of Pods instances, or of Percent of the count at the
// period's start, per Period.
type ScalingPolicy struct {
	Pods    int           `json:"pods,omitempty"`
	Percent int           `json:"percent,omitempty"`
	Period  time.Duration `json:"period"`
}

// The HPA's defaults (autoscaling/v2 HorizontalPodAutoscalerBehavior).
const (
	// DefaultAutoscaleCPU is the target when none is given: 80% CPU, as the HPA's.
	DefaultAutoscaleCPU = 80
	// DefaultScaleDownWindow is scaleDown's stabilization window.
	DefaultScaleDownWindow = 5 * time.Minute
	maxPolicyPeriod        = 30 * time.Minute
	maxWindow              = time.Hour
)

// defaultScaleUp is the HPA's scaleUp: double, or add 4, every 15s, whichever is more.
func defaultScaleUp() []ScalingPolicy {
	return []ScalingPolicy{{Percent: 100, Period: 15 * time.Second}, {Pods: 4, Period: 15 * time.Second}}
}

// defaultScaleDown is the HPA's scaleDown: down to the recommendation at once.
func defaultScaleDown() []ScalingPolicy {
	return []ScalingPolicy{{Percent: 100, Period: 15 * time.Second}}
}

// autoscale decodes autoscale: {min, max, targets, behavior}.
func (d *decoder) autoscale(n *yaml.Node, path string) *Autoscale {
	a := &Autoscale{Behavior: Behavior{ScaleDown: ScalingRules{StabilizationWindow: -1}, ScaleUp: ScalingRules{StabilizationWindow: -1}}}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"min": func(v *yaml.Node, f string) { a.Min = d.integer(v, f) },
		"max": func(v *yaml.Node, f string) { a.Max = d.integer(v, f) },
		"targets": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"cpu":    func(v *yaml.Node, f string) { a.Targets.CPU = d.percent(v, f) },
				"memory": func(v *yaml.Node, f string) { a.Targets.Memory = d.percent(v, f) },
				"rps": func(v *yaml.Node, f string) {
					a.Targets.RPS = d.positive(v, f, "requests per second per instance, like 100")
				},
				"custom": func(v *yaml.Node, f string) { a.Targets.Custom = d.customTargets(v, f) },
			}, nil)
		},
		"behavior": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"scaleUp":   func(v *yaml.Node, f string) { a.Behavior.ScaleUp = d.scalingRules(v, f) },
				"scaleDown": func(v *yaml.Node, f string) { a.Behavior.ScaleDown = d.scalingRules(v, f) },
			}, nil)
		},
	}, nil)
	return a
}

// percent reads a percentage written 70% or 70: more than 0, at most 1000.
func (d *decoder) percent(n *yaml.Node, field string) int {
	s, ok := d.scalar(n, field, "a percentage like 70%")
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if err != nil || v <= 0 || v > 1000 {
		d.errorf(n, field, "want a percentage above 0%% like 70%%, got %q (remove the target to not scale on it)", s)
		return 0
	}
	return v
}

// positive reads a number above 0.
func (d *decoder) positive(n *yaml.Node, field, what string) float64 {
	s, ok := d.scalar(n, field, what)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		d.errorf(n, field, "want a number above 0 (%s), got %q", what, s)
		return 0
	}
	return v
}

func (d *decoder) customTargets(n *yaml.Node, field string) []CustomTarget {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list like [{query: 'sum(rate(jobs_total[1m]))', target: 10}], got %s", kindName(n))
		return nil
	}
	out := make([]CustomTarget, 0, len(n.Content))
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		c := CustomTarget{}
		written := d.fields(item, f, map[string]func(*yaml.Node, string){
			"name":   func(v *yaml.Node, f string) { c.Name = d.str(v, f) },
			"query":  func(v *yaml.Node, f string) { c.Query = d.str(v, f) },
			"target": func(v *yaml.Node, f string) { c.Target = d.positive(v, f, "the value per instance") },
		}, nil)
		for _, req := range []string{"query", "target"} {
			if written != nil && !written[req] {
				d.errorf(item, join(f, req), "required field is missing")
			}
		}
		out = append(out, c)
	}
	return out
}

// scalingRules decodes one direction of behavior; StabilizationWindow -1 and nil
// Policies mean not written (the HPA's default applies).
func (d *decoder) scalingRules(n *yaml.Node, field string) ScalingRules {
	r := ScalingRules{StabilizationWindow: -1}
	d.fields(n, field, map[string]func(*yaml.Node, string){
		"stabilizationWindow": func(v *yaml.Node, f string) {
			if r.StabilizationWindow = d.duration(v, f); r.StabilizationWindow > maxWindow {
				d.errorf(v, f, "at most 1h, as the HPA's stabilizationWindowSeconds (3600), got %s", r.StabilizationWindow)
			}
		},
		"select": func(v *yaml.Node, f string) {
			if r.Select = d.str(v, f); r.Select != "max" && r.Select != "min" && r.Select != "disabled" {
				d.errorf(v, f, "want max (the policy allowing the biggest change), min (the smallest) or disabled (never scale this way), got %q", r.Select)
			}
		},
		"policies": func(v *yaml.Node, f string) {
			v = resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, f, "want a list like [{pods: 4, period: 15s}, {percent: 100, period: 15s}], got %s", kindName(v))
				return
			}
			r.Policies = []ScalingPolicy{}
			for i, item := range v.Content {
				pf := fmt.Sprintf("%s[%d]", f, i)
				p := ScalingPolicy{}
				written := d.fields(item, pf, map[string]func(*yaml.Node, string){
					"pods":    func(v *yaml.Node, f string) { p.Pods = d.count(v, f) },
					"percent": func(v *yaml.Node, f string) { p.Percent = d.percent(v, f) },
					"period": func(v *yaml.Node, f string) {
						if p.Period = d.duration(v, f); p.Period < time.Second || p.Period > maxPolicyPeriod {
							d.errorf(v, f, "want a period between 1s and 30m, as the HPA's periodSeconds, got %s", p.Period)
						}
					},
				}, nil)
				if written != nil {
					switch {
					case written["pods"] == written["percent"]:
						d.errorf(item, pf, "set pods (instances) or percent (of the count), one of them")
					case !written["period"]:
						d.errorf(item, join(pf, "period"), "required field is missing (like 15s)")
					}
				}
				r.Policies = append(r.Policies, p)
			}
		},
	}, nil)
	return r
}

// count reads a whole number above 0.
func (d *decoder) count(n *yaml.Node, field string) int {
	before := len(d.errs)
	v := d.integer(n, field)
	if v <= 0 && len(d.errs) == before {
		d.errorf(n, field, "want a count above 0, got %d", v)
	}
	return v
}

// setDefaults fills what the HPA defaults: min 1, an 80% CPU target when none is
// set, and the scaleUp and scaleDown behavior.
func (a *Autoscale) setDefaults() {
	if a.Min == 0 {
		a.Min = 1
	}
	t := &a.Targets
	if t.CPU == 0 && t.Memory == 0 && t.RPS == 0 && len(t.Custom) == 0 {
		t.CPU = DefaultAutoscaleCPU
	}
	for i := range t.Custom {
		if t.Custom[i].Name == "" {
			t.Custom[i].Name = fmt.Sprintf("custom[%d]", i)
		}
	}
	up, down := &a.Behavior.ScaleUp, &a.Behavior.ScaleDown
	if up.StabilizationWindow < 0 {
		up.StabilizationWindow = 0
	}
	if down.StabilizationWindow < 0 {
		down.StabilizationWindow = DefaultScaleDownWindow
	}
	if up.Policies == nil {
		up.Policies = defaultScaleUp()
	}
	if down.Policies == nil {
		down.Policies = defaultScaleDown()
	}
	for _, r := range []*ScalingRules{up, down} {
		if r.Select == "" {
			r.Select = "max"
		}
	}
}

// validateAutoscale checks what needs the whole spec: min and max, the instance count,
// a memory target's resources.memory.
func (d *decoder) validateAutoscale(a *App) {
	as := a.Autoscale
	if as == nil {
		return
	}
	if as.Min < 1 || as.Min > 1000 {
		d.at([]any{"autoscale", "min"}, "want between 1 and 1000 instances, got %d (tend scale APP 0 stops an app)", as.Min)
	}
	switch {
	case as.Max == 0:
		d.at([]any{"autoscale", "max"}, "required field is missing: the most instances the autoscaler may run, like 10")
	case as.Max < as.Min:
		d.at([]any{"autoscale", "max"}, "max (%d) is below min (%d)", as.Max, as.Min)
	case as.Max > 1000:
		d.at([]any{"autoscale", "max"}, "want at most 1000 instances, got %d", as.Max)
	}
	if as.Max >= as.Min && (a.Instances < as.Min || a.Instances > as.Max) {
		d.at([]any{"instances"}, "the first count of an autoscaled app must be between autoscale.min (%d) and max (%d), got %d", as.Min, as.Max, a.Instances)
	}
	if as.Targets.Memory > 0 && a.Resources.MemoryBytes == 0 {
		d.at([]any{"autoscale", "targets", "memory"}, "a memory target is a share of resources.memory: set resources.memory (like 256Mi) or remove the target")
	}
	for i, c := range as.Targets.Custom {
		if strings.TrimSpace(c.Query) == "" {
			d.at([]any{"autoscale", "targets", "custom", i, "query"}, "want a PromQL query, got nothing")
		}
	}
	for _, dir := range []string{"scaleUp", "scaleDown"} {
		r := as.Behavior.ScaleUp
		if dir == "scaleDown" {
			r = as.Behavior.ScaleDown
		}
		if len(r.Policies) == 0 && r.Select != "disabled" {
			d.at([]any{"autoscale", "behavior", dir, "policies"}, "want at least one policy (or select: disabled)")
		}
	}
}

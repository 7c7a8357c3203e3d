package autoscale

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// defaults is the HPA's default behavior, as spec fills it.
func defaults(t *testing.T) spec.Behavior {
	t.Helper()
	a, err := spec.Parse("tend.yaml", []byte("app: a\nbuild: {main: .}\nautoscale: {max: 100}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return a.Autoscale.Behavior
}

// asking is one metric result asking for n instances.
func asking(n int) []Result {
	return []Result{{Metric: "rps", Kind: Average, Target: 50, Value: 50, Instances: 1, Replicas: n}}
}

// sync decides and, like the controller, applies the decision.
func sync(s *Scaler, in Input) Decision {
	d := s.Decide(in)
	s.Scaled(in.Now, in.Current, d.Desired)
	return d
}

// The default scale up (kubernetes.io, "Default Behavior"): double, or add 4, every 15
// seconds, whichever is more.
func TestScaleUpByDefaultDoublesOrAddsFourEvery15s(t *testing.T) {
	b := defaults(t)
	s := &Scaler{}
	n := 1
	var got []int
	for i := range 4 {
		d := sync(s, Input{Now: t0.Add(time.Duration(i) * 15 * time.Second), Current: n, Min: 1, Max: 100, Behavior: b, Results: asking(40)})
		n = d.Desired
		got = append(got, n)
	}
	if want := []int{5, 10, 20, 40}; !slices.Equal(got, want) {
		t.Errorf("counts every 15s: %v, want %v", got, want)
	}
	// within one period, the count the period began with bounds the change
	s = &Scaler{}
	d := sync(s, Input{Now: t0, Current: 2, Min: 1, Max: 100, Behavior: b, Results: asking(40)})
	d2 := sync(s, Input{Now: t0.Add(5 * time.Second), Current: d.Desired, Min: 1, Max: 100, Behavior: b, Results: asking(40)})
	if d.Desired != 6 || d2.Desired != 6 || d2.Limit != "policy" {
		t.Errorf("2 → %d, then 5s later %d (%s), want 6 and 6 held by the policy", d.Desired, d2.Desired, d2.Reason)
	}
	if !strings.Contains(d.Reason, "limited by policy pods: 4 per 15s → 6") {
		t.Errorf("reason %q does not name the policy", d.Reason)
	}
}

// The documentation's scale-down example (kubernetes.io, "Scaling Policies"): with
// {pods: 4, period: 60s} and {percent: 10, period: 60s}, 80 instances lose 8 at the
// first step and, at 72, 8 again (10% of 72 rounded up), the percent policy winning
// while more than 40 run.
func TestScaleDownPoliciesFollowTheDocumentedExample(t *testing.T) {
	b := defaults(t)
	b.ScaleDown = spec.ScalingRules{Policies: []spec.ScalingPolicy{{Pods: 4, Period: time.Minute}, {Percent: 10, Period: time.Minute}}, Select: "max"}
	s := &Scaler{}
	n := 80
	var got []int
	for i := range 3 {
		d := sync(s, Input{Now: t0.Add(time.Duration(i) * 61 * time.Second), Current: n, Min: 1, Max: 100, Behavior: b, Results: asking(10)})
		n = d.Desired
		got = append(got, n)
	}
	if want := []int{72, 64, 57}; !slices.Equal(got, want) {
		t.Errorf("counts every 61s: %v, want %v", got, want)
	}
	// 30 instances: 10% is 3, so the pods policy (4) allows more
	s = &Scaler{}
	if d := sync(s, Input{Now: t0, Current: 30, Min: 1, Max: 100, Behavior: b, Results: asking(10)}); d.Desired != 26 {
		t.Errorf("30 → %d, want 26 (pods: 4 beats 10%%)", d.Desired)
	}
	// select: min takes the policy allowing the smallest change
	b.ScaleDown.Select = "min"
	s = &Scaler{}
	if d := sync(s, Input{Now: t0, Current: 30, Min: 1, Max: 100, Behavior: b, Results: asking(10)}); d.Desired != 27 {
		t.Errorf("select min: 30 → %d, want 27", d.Desired)
	}
	b.ScaleDown.Select = "disabled"
	s = &Scaler{}
	if d := sync(s, Input{Now: t0, Current: 30, Min: 1, Max: 100, Behavior: b, Results: asking(10)}); d.Desired != 30 {
		t.Errorf("select disabled: 30 → %d, want 30", d.Desired)
	}
}

// The scale-down stabilization window (default 5 minutes) takes the highest
// recommendation of the window: a dip does not remove instances until it lasts.
func TestScaleDownWaitsForTheWindowsHighestRecommendation(t *testing.T) {
	b := defaults(t)
	s := &Scaler{}
	n := 10
	steps := []struct {
		after time.Duration
		rec   int
		want  int
	}{
		{0, 10, 10},
		{time.Minute, 4, 10},
		{2 * time.Minute, 6, 10},
		{5*time.Minute + time.Second, 4, 6}, // the 10 left the window; the 6 of minute 2 is the highest
		{7*time.Minute + time.Second, 4, 4},
	}
	for _, st := range steps {
		d := sync(s, Input{Now: t0.Add(st.after), Current: n, Min: 1, Max: 20, Behavior: b, Results: asking(st.rec)})
		if d.Desired != st.want {
			t.Errorf("at +%s recommending %d from %d: %d, want %d (%s)", st.after, st.rec, n, d.Desired, st.want, d.Reason)
		}
		n = d.Desired
	}
}

// The seed's HPA has a scale-up window of 60s: a spike must last before it adds
// instances, the lowest recommendation of the minute winning.
func TestScaleUpWindowTakesTheLowestRecommendation(t *testing.T) {
	b := defaults(t)
	b.ScaleUp.StabilizationWindow = time.Minute
	s := &Scaler{}
	d1 := sync(s, Input{Now: t0, Current: 2, Min: 1, Max: 20, Behavior: b, Results: asking(2)})
	d2 := sync(s, Input{Now: t0.Add(15 * time.Second), Current: 2, Min: 1, Max: 20, Behavior: b, Results: asking(8)})
	d3 := sync(s, Input{Now: t0.Add(61 * time.Second), Current: 2, Min: 1, Max: 20, Behavior: b, Results: asking(8)})
	if d1.Desired != 2 || d2.Desired != 2 || d2.Limit != "stabilized" || d3.Desired != 6 {
		t.Errorf("2, then 8 asked 15s later → %d (%s), 61s later → %d; want 2, held at 2, then 6 (by the pods: 4 policy)", d2.Desired, d2.Reason, d3.Desired)
	}
}

func TestMinAndMaxBoundTheCount(t *testing.T) {
	b := defaults(t)
	s := &Scaler{}
	if d := s.Decide(Input{Now: t0, Current: 12, Min: 2, Max: 10, Behavior: b, Results: asking(12)}); d.Desired != 10 || d.Limit != "max" {
		t.Errorf("12 running, max 10: %+v", d)
	}
	if d := s.Decide(Input{Now: t0, Current: 1, Min: 2, Max: 10, Behavior: b, Results: asking(1)}); d.Desired != 2 || d.Limit != "min" {
		t.Errorf("1 running, min 2: %+v", d)
	}
	if d := s.Decide(Input{Now: t0, Current: 8, Min: 2, Max: 10, Behavior: b, Results: asking(30)}); d.Desired != 10 || d.Limit != "max" ||
		!strings.Contains(d.Reason, "limited by max 10") {
		t.Errorf("30 asked, max 10: %+v", d)
	}
}

// The HPA scales by the metric asking for the most, and does not scale down while a
// metric is missing (it might be the one asking for more).
func TestTheLargestMetricWinsAndAMissingOneBlocksScaleDown(t *testing.T) {
	b := defaults(t)
	s := &Scaler{}
	rs := []Result{{Metric: "cpu", Kind: Utilization, Target: 70, Replicas: 3, Instances: 2}, {Metric: "rps", Kind: Average, Target: 50, Replicas: 5, Instances: 2}}
	if d := s.Decide(Input{Now: t0, Current: 2, Min: 1, Max: 10, Behavior: b, Results: rs}); d.Desired != 5 || d.Metric != "rps" {
		t.Errorf("cpu asks 3, rps 5: %+v", d)
	}
	rs = []Result{{Metric: "cpu", Replicas: 4, Err: ErrNoData}, {Metric: "rps", Kind: Average, Target: 50, Replicas: 1, Instances: 4}}
	if d := s.Decide(Input{Now: t0, Current: 4, Min: 1, Max: 10, Behavior: b, Results: rs}); d.Desired != 4 || !strings.Contains(d.Reason, "no scale down while a metric is missing") {
		t.Errorf("cpu missing, rps asks 1: %+v", d)
	}
	rs = []Result{{Metric: "cpu", Err: ErrNoData}}
	if d := s.Decide(Input{Now: t0, Current: 4, Min: 1, Max: 10, Behavior: b, Results: rs}); d.Desired != 4 || !strings.HasPrefix(d.Reason, "no metric to decide by") {
		t.Errorf("no metric: %+v", d)
	}
}

package analysis

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/spec"
)

// fakeQuerier answers the canary's request count and error rate from scripts: the n-th
// measurement gets the n-th value (the last one repeats); the baseline has no data.
type fakeQuerier struct {
	mu       sync.Mutex
	requests []float64
	errors   []float64
	calls    map[string]int
	queries  []string
}

func (f *fakeQuerier) next(kind string, script []float64) float64 {
	i := min(f.calls[kind], len(script)-1)
	f.calls[kind]++
	return script[i]
}

func (f *fakeQuerier) Query(_ context.Context, q string, t time.Time) (monitor.Vector, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if !strings.Contains(q, `revision="2"`) { // the stable revision: no data
		return nil, nil
	}
	switch {
	case strings.Contains(q, `code=~"5.."`):
		return monitor.Vector{{Value: f.next("errors", f.errors), T: t}}, nil
	case strings.HasPrefix(q, "sum(increase(tend_gateway_requests_total"):
		return monitor.Vector{{Value: f.next("requests", f.requests), T: t}}, nil
	}
	return nil, nil
}

// QueryRange gives ten per-interval samples: about 1 ms for every series, except that a
// query naming "slow" is 500 ms for the canary.
func (f *fakeQuerier) QueryRange(_ context.Context, q string, start, _ time.Time, step time.Duration) (monitor.Matrix, error) {
	base := 0.001
	if strings.Contains(q, "slow") && strings.Contains(q, `revision="2"`) {
		base = 0.5
	}
	s := monitor.Series{}
	for i := range 10 {
		s.Points = append(s.Points, monitor.Point{T: start.Add(time.Duration(i) * step), V: base + float64(i%3)*0.0001})
	}
	return monitor.Matrix{s}, nil
}

func analyze(t *testing.T, q *fakeQuerier, a spec.Analysis, deadline time.Duration) rollout.Verdict {
	t.Helper()
	q.calls = map[string]int{}
	if a.Checks == nil {
		a.Checks = []spec.Check{{Name: "error-rate", Max: &spec.Threshold{Text: "1%", Value: 0.01}}}
	}
	a.Interval = 10 * time.Millisecond
	var reported []rollout.Measurement
	an := &Analyzer{Querier: q, Resolution: time.Millisecond}
	v := an.Analyze(context.Background(), rollout.AnalysisRequest{App: "shop", Stable: 1, Canary: 2, Started: time.Now(),
		Deadline: deadline, Analysis: &a, Report: func(m rollout.Measurement) { reported = append(reported, m) }})
	if len(reported) != len(v.Measurements) {
		t.Errorf("reported %d measurements, the verdict holds %d", len(reported), len(v.Measurements))
	}
	return v
}

func TestAnalysisFollowsArgoSemantics(t *testing.T) {
	q := &fakeQuerier{requests: []float64{100}, errors: []float64{0}}
	if v := analyze(t, q, spec.Analysis{Count: 3, MinRequests: 50}, time.Minute); v.Result != "pass" || len(v.Measurements) != 3 {
		t.Fatalf("healthy: %s after %d measurements (%s), want pass after 3", v.Result, len(v.Measurements), v.Message)
	}
	// failureLimit 1: the first failure is tolerated, the second fails the analysis
	q = &fakeQuerier{requests: []float64{100}, errors: []float64{0.05, 0, 0.05}}
	v := analyze(t, q, spec.Analysis{Count: 5, FailureLimit: 1, MinRequests: 50}, time.Minute)
	if v.Result != "fail" || len(v.Measurements) != 3 || !strings.Contains(v.Message, "2 of 3 measurements failed") {
		t.Fatalf("two failures with failureLimit 1: %s after %d measurements: %s", v.Result, len(v.Measurements), v.Message)
	}
	if c := v.Measurements[2].Checks[0]; c.Result != "fail" || c.Value == nil || *c.Value != 0.05 || !strings.Contains(c.Reason, "5.00% above max 1%") {
		t.Fatalf("the failing check: %+v", c)
	}
	// too few requests: waiting, never failing, until the deadline makes it inconclusive
	q = &fakeQuerier{requests: []float64{3}, errors: []float64{1}}
	v = analyze(t, q, spec.Analysis{Count: 3, MinRequests: 50}, 50*time.Millisecond)
	if v.Result != "inconclusive" || !strings.Contains(v.Message, "47 more") || !strings.Contains(v.Message, "analysis.load") {
		t.Fatalf("no traffic: %s: %s; want inconclusive saying 47 more requests are needed", v.Result, v.Message)
	}
	for _, m := range v.Measurements {
		if m.Result != "waiting" {
			t.Fatalf("a measurement with 3 requests was %s, want waiting", m.Result)
		}
	}
	// traffic arrives later: the waiting measurements do not count
	q = &fakeQuerier{requests: []float64{0, 10, 60}, errors: []float64{0}}
	v = analyze(t, q, spec.Analysis{Count: 2, MinRequests: 50}, time.Minute)
	if v.Result != "pass" || len(v.Measurements) != 4 {
		t.Fatalf("late traffic: %s after %d measurements, want pass after 2 waiting and 2 counted", v.Result, len(v.Measurements))
	}
}

func TestCustomQueriesGetTheirPlaceholders(t *testing.T) {
	q := &fakeQuerier{requests: []float64{100}, errors: []float64{0}}
	analyze(t, q, spec.Analysis{Count: 1, MinRequests: 50, Checks: []spec.Check{
		{Name: "queue", Query: `max(queue_depth{app="$app",revision="$canary"}) - max(queue_depth{revision="$stable"}[$window])`, Max: &spec.Threshold{Value: 10}},
	}}, time.Minute)
	found := false
	for _, s := range q.queries {
		if strings.HasPrefix(s, "max(queue_depth") {
			found = true
			if !strings.Contains(s, `app="shop",revision="2"`) || !strings.Contains(s, `revision="1"`) || strings.Contains(s, "$") {
				t.Errorf("custom query sent as %q", s)
			}
		}
	}
	if !found {
		t.Fatalf("the custom query was not run: %v", q.queries)
	}
}

// The baseline comparisons are judged together, by Kayenta's score: one worse metric of
// two fails (50), of four is marginal (75: inconclusive), of twenty is tolerated (95: pass).
func TestBaselineComparisonsAreJudgedByTheirScore(t *testing.T) {
	checks := func(n int) []spec.Check {
		cs := []spec.Check{{Name: "slow", Query: `q{name="slow",revision="$canary"}`, Baseline: true, Tolerance: 0.2}}
		for i := 1; i < n; i++ {
			cs = append(cs, spec.Check{Name: "fine", Query: `q{revision="$canary"}`, Baseline: true, Tolerance: 0.2})
		}
		return cs
	}
	for _, c := range []struct {
		n      int
		result string
		score  float64
	}{{2, "fail", 50}, {4, "inconclusive", 75}, {20, "pass", 95}} {
		q := &fakeQuerier{requests: []float64{100}, errors: []float64{0}}
		v := analyze(t, q, spec.Analysis{Count: 1, MinRequests: 50, Checks: checks(c.n)}, time.Minute)
		m := v.Measurements[0]
		if m.Result != c.result || m.Score == nil || *m.Score != c.score {
			t.Errorf("%d metrics, one worse: %s with score %v (%s), want %s with %v", c.n, m.Result, m.Score, m.Message, c.result, c.score)
		}
		if slow := m.Checks[0]; slow.Class != "High" || (c.result == "pass") != strings.Contains(slow.Reason, "tolerated") {
			t.Errorf("%d metrics: the slow check %+v", c.n, slow)
		}
	}
}

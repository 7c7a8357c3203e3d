// Package analysis judges a canary revision against thresholds and against the stable revision, from metrics queried with PromQL.
package analysis

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/spec"
)

// Analyzer runs analysis steps for the controller.
type Analyzer struct {
	// Querier answers PromQL: the embedded monitor or an external Prometheus.
	Querier monitor.Querier
	// Resolution is the scrape interval of the gateway's metrics: the baseline comparison
	// takes one sample per Resolution.
	Resolution time.Duration
	// Gateway is the gateway's base URL, for analysis.load.
	Gateway string
	Judge   Judge
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (a *Analyzer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// withDefaults returns a copy of a with the judge and resolution filled in.
func (a *Analyzer) withDefaults() *Analyzer {
	c := *a
	if c.Judge == (Judge{}) {
		c.Judge = DefaultJudge
	}
	if c.Resolution <= 0 {
		c.Resolution = time.Second
	}
	return &c
}

// Analyze takes a measurement every interval from the step's start and decides as Argo
// Rollouts' AnalysisRun does: more than failureLimit failed measurements fail it, more
// than inconclusiveLimit inconclusive ones make it inconclusive, and count measurements
// otherwise pass it. Measurements with too little traffic wait and do not count, until
// progressDeadline, when the analysis ends inconclusive (it never fails for lack of data).
func (a *Analyzer) Analyze(ctx context.Context, r rollout.AnalysisRequest) rollout.Verdict {
	an := r.Analysis
	a = a.withDefaults() // a copy: analyses of several apps run at once on one Analyzer
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("app", r.App, "canary", r.Canary, "stable", r.Stable)
	if an.Load != nil && a.Gateway != "" {
		lctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); a.load(lctx, r, log) }()
		defer func() { stop(); <-done }()
	}
	var v rollout.Verdict
	var failed, inconclusive, counted int
	next := r.Started.Add(an.Interval)
	for {
		if wait := next.Sub(a.now()); wait > 0 {
			select {
			case <-ctx.Done():
				v.Result, v.Message, v.At = "inconclusive", "analysis stopped before it ended", a.now()
				return v
			case <-time.After(wait):
			}
		}
		next = a.now().Add(an.Interval)
		m := a.measure(ctx, r)
		v.Measurements = append(v.Measurements, m)
		if r.Report != nil {
			r.Report(m)
		}
		v.At = m.At
		switch m.Result {
		case "waiting":
			if r.Deadline > 0 && m.At.Sub(r.Started) > r.Deadline {
				v.Result = "inconclusive"
				v.Message = fmt.Sprintf("not enough traffic to judge within progressDeadline (%s): %s; raise the canary's weight or add analysis.load", r.Deadline, m.Message)
				return v
			}
			continue
		case "fail":
			failed++
		case "inconclusive":
			inconclusive++
		}
		counted++
		switch {
		case failed > an.FailureLimit:
			v.Result = "fail"
			v.Message = fmt.Sprintf("%d of %d measurements failed (failureLimit %d): %s", failed, counted, an.FailureLimit, m.Message)
			return v
		case inconclusive > an.InconclusiveLimit:
			v.Result = "inconclusive"
			v.Message = fmt.Sprintf("%d of %d measurements inconclusive (inconclusiveLimit %d): %s", inconclusive, counted, an.InconclusiveLimit, m.Message)
			return v
		case an.Count > 0 && counted >= an.Count:
			v.Result = "pass"
			v.Message = fmt.Sprintf("%d measurements, %d failed, %d inconclusive: %s", counted, failed, inconclusive, m.Message)
			return v
		}
	}
}

// measure runs every check once over the window from the step's start to now.
func (a *Analyzer) measure(ctx context.Context, r rollout.AnalysisRequest) rollout.Measurement {
	now := a.now()
	window := max(now.Sub(r.Started), 2*a.Resolution)
	m := rollout.Measurement{At: now, Needed: r.Analysis.MinRequests}
	x := func(q string, rev int) string {
		return expand(q, r.App, rev, r.Stable, window, 2*a.Resolution)
	}
	req, err := a.scalar(ctx, x(requestsQuery, r.Canary), now)
	if err != nil {
		m.Result, m.Message = "inconclusive", "cannot read the canary's request count: "+err.Error()
		return m
	}
	if !math.IsNaN(req) { // NaN: the canary has no request series yet, that is no traffic
		m.Requests = math.Round(req)
	}
	if m.Requests < float64(m.Needed) {
		m.Result = "waiting"
		m.Message = fmt.Sprintf("the canary served %.0f requests in %s; %d needed before it is judged (%.0f more)",
			m.Requests, window.Round(time.Second), m.Needed, float64(m.Needed)-m.Requests)
		return m
	}
	var comps []Comparison
	var badHigh []bool
	var fails, nodata, worse []string
	var worseAt []int // indices in m.Checks of checks the baseline comparison found worse
	for _, c := range r.Analysis.Checks {
		q := checkQuery(c)
		res := rollout.CheckResult{Name: c.Name, Result: "pass", Threshold: thresholdText(c)}
		val, err := a.scalar(ctx, x(q.window, r.Canary), now)
		switch {
		case err != nil:
			res.Result, res.Reason = "nodata", err.Error()
		case math.IsNaN(val) || math.IsInf(val, 0):
			res.Result, res.Reason = "nodata", "no value for the canary in the window"
		default:
			res.Value = &val
			res.Reason = "within thresholds"
			if c.Max != nil && val > c.Max.Value {
				res.Result, res.Reason = "fail", fmt.Sprintf("%s above max %s", show(c, val), c.Max.Text)
			}
			if c.Min != nil && val < c.Min.Value {
				res.Result, res.Reason = "fail", fmt.Sprintf("%s below min %s", show(c, val), c.Min.Text)
			}
		}
		if res.Result == "fail" {
			fails = append(fails, c.Name+": "+res.Reason)
		}
		if c.Baseline && r.Stable != 0 {
			if sv, err := a.scalar(ctx, x(q.window, r.Stable), now); err == nil && !math.IsNaN(sv) && !math.IsInf(sv, 0) {
				res.Stable = &sv
			}
			cmp := a.compare(ctx, r, q, c, now)
			comps, badHigh = append(comps, cmp), append(badHigh, q.badWhenHigh)
			res.Class = string(cmp.Class)
			if cmp.Class != NoData {
				p := cmp.PValue
				res.PValue = &p
			}
			res.Reason += "; against stable: " + cmp.Reason
			if (cmp.Class == High && q.badWhenHigh) || (cmp.Class == Low && !q.badWhenHigh) {
				worse = append(worse, c.Name+": "+cmp.Reason)
				worseAt = append(worseAt, len(m.Checks))
			}
		}
		if res.Result == "nodata" && (res.Class == "" || res.Class == string(NoData)) {
			nodata = append(nodata, c.Name+": "+res.Reason) // neither a value nor a comparison
		}
		m.Checks = append(m.Checks, res)
	}
	// thresholds fail on their own; the baseline comparisons are judged together by their
	// score, as Kayenta does: pass, marginal (inconclusive) or fail
	judged := "pass"
	if len(comps) > 0 {
		score, verdict := a.Judge.Score(comps, badHigh)
		if !math.IsNaN(score) {
			m.Score = &score
			judged = verdict
		}
	}
	for _, i := range worseAt {
		if judged == "pass" {
			m.Checks[i].Reason += fmt.Sprintf(" (tolerated: baseline score %.0f ≥ %.0f)", *m.Score, a.Judge.PassScore)
		} else {
			m.Checks[i].Result = "fail"
		}
	}
	switch {
	case len(fails) > 0:
		m.Result, m.Message = "fail", strings.Join(append(fails, worse...), "; ")
	case judged == "fail":
		m.Result = "fail"
		m.Message = fmt.Sprintf("baseline score %.0f (fail below %.0f): %s", *m.Score, a.Judge.MarginalScore, strings.Join(worse, "; "))
	case judged == "marginal":
		m.Result = "inconclusive"
		m.Message = fmt.Sprintf("baseline score %.0f is marginal (pass at %.0f): %s", *m.Score, a.Judge.PassScore, strings.Join(worse, "; "))
	case len(nodata) == len(r.Analysis.Checks):
		m.Result, m.Message = "inconclusive", "no check had data: "+strings.Join(nodata, "; ")
	default:
		m.Result = "pass"
		m.Message = fmt.Sprintf("%d checks passed over %.0f canary requests", len(r.Analysis.Checks)-len(nodata), m.Requests)
	}
	return m
}

// compare runs the baseline comparison of one check over the window.
func (a *Analyzer) compare(ctx context.Context, r rollout.AnalysisRequest, q query, c spec.Check, now time.Time) Comparison {
	start := r.Started.Add(2 * a.Resolution)
	if !start.Before(now) {
		return Comparison{Class: NoData, Reason: "the window is too short to compare yet"}
	}
	series := func(rev int) ([]float64, error) {
		mx, err := a.Querier.QueryRange(ctx, expand(q.perInterval, r.App, rev, r.Stable, 0, 2*a.Resolution), start, now, a.Resolution)
		if err != nil {
			return nil, err
		}
		var out []float64
		for _, s := range mx {
			for _, p := range s.Points {
				if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
					out = append(out, p.V)
				}
			}
		}
		return out, nil
	}
	canary, err := series(r.Canary)
	if err != nil {
		return Comparison{Class: NoData, Reason: err.Error()}
	}
	stable, err := series(r.Stable)
	if err != nil {
		return Comparison{Class: NoData, Reason: err.Error()}
	}
	return a.Judge.Compare(canary, stable, c.Tolerance, q.floor)
}

// scalar runs an instant query that should give one number: the sum of what it returns,
// NaN when it returns nothing.
func (a *Analyzer) scalar(ctx context.Context, q string, t time.Time) (float64, error) {
	v, err := a.Querier.Query(ctx, q, t)
	if err != nil {
		return math.NaN(), err
	}
	if len(v) == 0 {
		return math.NaN(), nil
	}
	sum := 0.0
	for _, s := range v {
		sum += s.Value
	}
	return sum, nil
}

func thresholdText(c spec.Check) string {
	var parts []string
	if c.Max != nil {
		parts = append(parts, "max "+c.Max.Text)
	}
	if c.Min != nil {
		parts = append(parts, "min "+c.Min.Text)
	}
	if c.Baseline {
		parts = append(parts, fmt.Sprintf("baseline ±%.0f%%", c.Tolerance*100))
	}
	return strings.Join(parts, ", ")
}

// show prints a check's value in its unit.
func show(c spec.Check, v float64) string {
	switch {
	case c.Name == "error-rate":
		return fmt.Sprintf("%.2f%%", v*100)
	case strings.HasPrefix(c.Name, "latency-"):
		return time.Duration(v * float64(time.Second)).Round(100 * time.Microsecond).String()
	}
	return fmtNum(v)
}

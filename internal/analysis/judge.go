package analysis

import (
	"fmt"
	"math"
)

// Class is how a canary metric compares with the stable one.
type Class string

// Classes of a comparison, as Kayenta's judge names them; NoData when either side has
// too few samples to say.
const (
	Pass   Class = "Pass"
	High   Class = "High"
	Low    Class = "Low"
	NoData Class = "NoData"
)

// Comparison is the judge's view of one metric: canary against stable.
type Comparison struct {
	Class Class `json:"class"`
	// PValue of the two-sided Mann–Whitney test; Shift is the Hodges–Lehmann estimate of
	// canary − stable; the medians are of the per-interval samples.
	PValue       float64 `json:"pValue"`
	Shift        float64 `json:"shift"`
	CanaryMedian float64 `json:"canaryMedian"`
	StableMedian float64 `json:"stableMedian"`
	CanaryN      int     `json:"canaryN"`
	StableN      int     `json:"stableN"`
	Reason       string  `json:"reason"`
}

// Judge holds the comparison's parameters.
type Judge struct {
	// Confidence is how sure the test must be before it calls a difference (0.95: p < 0.05).
	Confidence float64
	// MinSamples is how many per-interval samples each side needs.
	MinSamples int
	// PassScore and MarginalScore are the score thresholds (0..100): at or above
	// PassScore the comparison passes, below MarginalScore it fails, between is marginal.
	PassScore, MarginalScore float64
}

// DefaultJudge is Kayenta's default judge: 95% confidence, pass at 95, marginal at 75.
var DefaultJudge = Judge{Confidence: 0.95, MinSamples: 5, PassScore: 95, MarginalScore: 75}

// Compare classifies canary against stable. A difference counts only when the test is
// significant and the shift exceeds tolerance × the stable median, and floor in absolute
// terms (so that 1.2 ms against 1.0 ms, or 0.1% errors against none, is not a regression).
func (j Judge) Compare(canary, stable []float64, tolerance, floor float64) Comparison {
	c := Comparison{CanaryN: len(canary), StableN: len(stable), CanaryMedian: median(canary), StableMedian: median(stable), PValue: 1}
	if len(canary) < j.MinSamples || len(stable) < j.MinSamples {
		c.Class = NoData
		c.Reason = fmt.Sprintf("%d canary and %d stable intervals with data; the comparison needs %d of each", len(canary), len(stable), j.MinSamples)
		return c
	}
	_, c.PValue = MannWhitney(canary, stable)
	c.Shift = HodgesLehmann(canary, stable)
	allowed := math.Max(tolerance*math.Abs(c.StableMedian), floor)
	significant := c.PValue < 1-j.Confidence
	switch {
	case significant && c.Shift > allowed:
		c.Class = High
		c.Reason = fmt.Sprintf("canary higher than stable by %s (allowed %s), p=%.3g", fmtNum(c.Shift), fmtNum(allowed), c.PValue)
	case significant && c.Shift < -allowed:
		c.Class = Low
		c.Reason = fmt.Sprintf("canary lower than stable by %s, p=%.3g", fmtNum(-c.Shift), c.PValue)
	default:
		c.Class = Pass
		c.Reason = fmt.Sprintf("no difference beyond %s (shift %s, p=%.3g)", fmtNum(allowed), fmtNum(c.Shift), c.PValue)
	}
	return c
}

// Score is the share (0..100) of compared metrics that passed, and the judge's verdict
// on it: pass, marginal or fail. Metrics without data do not count; with none, the score
// is NaN and the verdict "nodata". A metric for which higher is better fails when Low
// instead of High: badWhenHigh says which way each one goes.
func (j Judge) Score(cs []Comparison, badWhenHigh []bool) (float64, string) {
	n, good := 0, 0
	for i, c := range cs {
		if c.Class == NoData {
			continue
		}
		n++
		bad := (c.Class == High && badWhenHigh[i]) || (c.Class == Low && !badWhenHigh[i])
		if !bad {
			good++
		}
	}
	if n == 0 {
		return math.NaN(), "nodata"
	}
	score := 100 * float64(good) / float64(n)
	switch {
	case score >= j.PassScore:
		return score, "pass"
	case score >= j.MarginalScore:
		return score, "marginal"
	}
	return score, "fail"
}

// fmtNum prints a metric value compactly.
func fmtNum(v float64) string {
	return fmt.Sprintf("%.4g", v)
}

package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

// Textbook values: the exact null distribution of U (complete separation has
// probability 1/C(m+n, m) per tail) and the critical values of the U table.
func TestMannWhitneyAgainstTextbookValues(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		u, p float64
	}{
		{[]float64{4, 5, 6}, []float64{1, 2, 3}, 9, 2.0 / 20},
		{[]float64{5, 6, 7, 8}, []float64{1, 2, 3, 4}, 16, 2.0 / 70},
		{[]float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 25, 2.0 / 252},
		{[]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, 2.0 / 252},
		// interleaved: U at its mean, nothing to see
		{[]float64{1, 3, 5, 7}, []float64{2, 4, 6, 8}, 6, 0.6857},
	} {
		u, p := MannWhitney(c.x, c.y)
		if u != c.u || !near(p, c.p, 1e-3) {
			t.Errorf("MannWhitney(%v, %v) = U %v p %.4f, want U %v p %.4f", c.x, c.y, u, p, c.u, c.p)
		}
	}
	// critical values of the two-sided 5% table: n1 = n2 = 8 → 13, n1 = n2 = 10 → 23
	for _, c := range []struct{ n, crit int }{{8, 13}, {10, 23}} {
		if p := exactP(float64(c.crit), c.n, c.n); p > 0.05 {
			t.Errorf("n=%d: U=%d gives p=%.4f, the table says it is significant at 5%%", c.n, c.crit, p)
		}
		if p := exactP(float64(c.crit+1), c.n, c.n); p <= 0.05 {
			t.Errorf("n=%d: U=%d gives p=%.4f, the table says it is not significant at 5%%", c.n, c.crit+1, p)
		}
	}
}

func TestMannWhitneyNormalApproximationWithTies(t *testing.T) {
	// worked by hand: U = 0 + 2×0.5 + 1.5 + 2×2.5 = 7.5; mean 18; ties of sizes 3, 2, 3, 2
	// give Σ(t³−t) = 60, σ² = 36/12 × (13 − 60/132) = 37.64; z = (10.5 − 0.5)/6.135 = 1.630;
	// two-sided p = erfc(1.630/√2) = 0.1031
	u, p := MannWhitney([]float64{1, 2, 2, 3, 4, 4}, []float64{2, 3, 4, 5, 5, 6})
	if u != 7.5 || !near(p, 0.1031, 5e-4) {
		t.Errorf("U %v p %.4f, want U 7.5 p 0.1031", u, p)
	}
	// all values equal: no evidence, p = 1
	if _, p := MannWhitney([]float64{1, 1, 1}, []float64{1, 1, 1}); p != 1 {
		t.Errorf("equal samples: p = %v, want 1", p)
	}
}

func TestHodgesLehmann(t *testing.T) {
	if s := HodgesLehmann([]float64{11, 12, 13}, []float64{1, 2, 3}); s != 10 {
		t.Errorf("shift = %v, want 10", s)
	}
}

// The judge on synthetic samples with known outcomes.
func TestJudgeOnSyntheticSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sample := func(n int, mean, sd float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = mean + sd*r.NormFloat64()
		}
		return s
	}
	j := DefaultJudge
	// latency 300 ms slower: High
	c := j.Compare(sample(12, 0.301, 0.01), sample(12, 0.001, 0.0005), 0.2, 0.005)
	if c.Class != High || c.PValue > 0.001 {
		t.Errorf("300ms regression: %+v", c)
	}
	// the same distribution: Pass, however many times we draw
	falseAlarms := 0
	for range 200 {
		if j.Compare(sample(12, 0.002, 0.0005), sample(12, 0.002, 0.0005), 0.2, 0.005).Class != Pass {
			falseAlarms++
		}
	}
	if falseAlarms != 0 {
		t.Errorf("%d of 200 equal comparisons were not Pass", falseAlarms)
	}
	// significant but tiny (1.2 ms against 1.0 ms): within the floor, Pass
	if c := j.Compare(sample(20, 0.0012, 0.00005), sample(20, 0.001, 0.00005), 0.2, 0.005); c.Class != Pass || c.PValue > 0.01 {
		t.Errorf("tiny significant shift: %+v, want Pass with a small p", c)
	}
	// faster canary: Low
	if c := j.Compare(sample(10, 0.1, 0.01), sample(10, 0.5, 0.01), 0.2, 0.005); c.Class != Low {
		t.Errorf("faster canary: %+v", c)
	}
	// too few samples: NoData, with the reason
	if c := j.Compare(sample(3, 1, 0), sample(10, 1, 0), 0.2, 0.005); c.Class != NoData || c.Reason == "" {
		t.Errorf("3 samples: %+v", c)
	}
	// scores: one of two metrics High (bad) → 50 → fail; Low latency is good → pass
	if s, v := j.Score([]Comparison{{Class: High}, {Class: Pass}}, []bool{true, true}); s != 50 || v != "fail" {
		t.Errorf("score %v %s, want 50 fail", s, v)
	}
	if s, v := j.Score([]Comparison{{Class: Low}, {Class: Pass}, {Class: NoData}}, []bool{true, true, true}); s != 100 || v != "pass" {
		t.Errorf("score %v %s, want 100 pass", s, v)
	}
	if s, v := j.Score([]Comparison{{Class: Pass}, {Class: Pass}, {Class: Pass}, {Class: High}}, []bool{true, true, true, true}); s != 75 || v != "marginal" {
		t.Errorf("score %v %s, want 75 marginal", s, v)
	}
	if _, v := j.Score([]Comparison{{Class: NoData}}, []bool{true}); v != "nodata" {
		t.Errorf("no data: %s", v)
	}
}

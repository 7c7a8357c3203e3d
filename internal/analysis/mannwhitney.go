package analysis

import (
	"math"
	"slices"
)

// MannWhitney compares two independent samples with the Mann–Whitney U test (Wilcoxon
// rank-sum). It returns U for x (the number of pairs where x wins, ties counting half)
// and the two-sided p-value: exact for small samples without ties, otherwise the normal
// approximation with tie and continuity corrections.
func MannWhitney(x, y []float64) (u, p float64) {
	m, n := len(x), len(y)
	if m == 0 || n == 0 {
		return 0, 1
	}
	type obs struct {
		v   float64
		inX bool
	}
	all := make([]obs, 0, m+n)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	// mid-ranks for ties, and the tie correction term Σ(t³ − t)
	var rx, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j averaged
		for k := i; k < j; k++ {
			if all[k].inX {
				rx += rank
			}
		}
		if t := float64(j - i); t > 1 {
			ties += t*t*t - t
		}
		i = j
	}
	fm, fn := float64(m), float64(n)
	u = rx - fm*(fm+1)/2
	if ties == 0 && m+n <= 40 {
		return u, exactP(u, m, n)
	}
	mean := fm * fn / 2
	N := fm + fn
	sigma := math.Sqrt(fm * fn / 12 * ((N + 1) - ties/(N*(N-1))))
	if sigma == 0 {
		return u, 1 // every value equal: no evidence either way
	}
	z := (math.Abs(u-mean) - 0.5) / sigma
	if z < 0 {
		z = 0
	}
	return u, math.Min(1, math.Erfc(z/math.Sqrt2))
}

// exactP is the two-sided p-value of U for sample sizes m and n under the null
// hypothesis, from the exact distribution of U (no ties): the number of arrangements
// with each U, by the recurrence c(m, n, u) = c(m−1, n, u−n) + c(m, n−1, u).
func exactP(u float64, m, n int) float64 {
	maxU := m * n
	// counts[i][j] holds the distribution for sizes i and j; only the previous row is needed
	prev := make([][]float64, n+1)
	for j := 0; j <= n; j++ {
		prev[j] = make([]float64, maxU+1)
		prev[j][0] = 1 // i = 0: U is 0 whatever j
	}
	for i := 1; i <= m; i++ {
		cur := make([][]float64, n+1)
		cur[0] = make([]float64, maxU+1)
		cur[0][0] = 1
		for j := 1; j <= n; j++ {
			cur[j] = make([]float64, maxU+1)
			for k := 0; k <= i*j; k++ {
				c := cur[j-1][k]
				if k >= j {
					c += prev[j][k-j]
				}
				cur[j][k] = c
			}
		}
		prev = cur
	}
	dist := prev[n]
	total := 0.0
	for _, c := range dist {
		total += c
	}
	// two-sided: twice the smaller tail at the observed U
	lo := math.Min(u, float64(maxU)-u)
	tail := 0.0
	for k := 0; float64(k) <= lo+1e-9; k++ {
		tail += dist[k]
	}
	return math.Min(1, 2*tail/total)
}

// HodgesLehmann is the median of all pairwise differences x[i] − y[j]: the estimate of
// how far x is shifted from y that goes with the Mann–Whitney test.
func HodgesLehmann(x, y []float64) float64 {
	if len(x) == 0 || len(y) == 0 {
		return 0
	}
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	return median(d)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

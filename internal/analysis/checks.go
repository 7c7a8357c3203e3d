package analysis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// The gateway's metrics that the built-in checks read (see internal/gateway/metrics.go).
const (
	requestsMetric = "tend_gateway_requests_total"
	durationMetric = "tend_gateway_request_duration_seconds_bucket"
)

// query is how one check reads its value: over the analysis window for thresholds, and
// per interval for the baseline comparison.
type query struct {
	// window is PromQL over the window $window for one revision ($rev).
	window string
	// perInterval is PromQL evaluated at every step of a range query.
	perInterval string
	// badWhenHigh says which way a regression goes; floor is the smallest absolute
	// shift the baseline comparison calls a difference.
	badWhenHigh bool
	floor       float64
}

// checkQuery returns the PromQL of a check.
func checkQuery(c spec.Check) query {
	sel := `{app="$app",revision="$rev"}`
	switch c.Name {
	case "error-rate":
		ratio := func(fn, rng string) string {
			return fmt.Sprintf(`(sum(%[1]s(%[2]s{app="$app",revision="$rev",code=~"5.."}[%[3]s])) or vector(0)) / sum(%[1]s(%[2]s%[4]s[%[3]s]))`,
				fn, requestsMetric, rng, sel)
		}
		return query{window: ratio("increase", "$window"), perInterval: ratio("rate", "$step"), badWhenHigh: true, floor: 0.01}
	case "latency-p99", "latency-p95", "latency-p50":
		q := "0." + strings.TrimPrefix(c.Name, "latency-p")
		quantile := func(fn, rng string) string {
			return fmt.Sprintf(`histogram_quantile(%s, sum by (le) (%s(%s%s[%s])))`, q, fn, durationMetric, sel, rng)
		}
		return query{window: quantile("increase", "$window"), perInterval: quantile("rate", "$step"), badWhenHigh: true, floor: 0.01}
	}
	// custom PromQL: $canary (and $stable) are the revisions; for the stable side of a
	// baseline comparison $canary means the stable revision
	q := strings.ReplaceAll(c.Query, "$canary", "$rev")
	return query{window: q, perInterval: q, badWhenHigh: c.Max != nil || c.Min == nil}
}

// expand fills a query's placeholders.
func expand(q, app string, rev, stable int, window, step time.Duration) string {
	return strings.NewReplacer(
		"$app", app,
		"$rev", strconv.Itoa(rev),
		"$stable", strconv.Itoa(stable),
		"$window", promDuration(window),
		"$step", promDuration(step),
	).Replace(q)
}

// requestsQuery counts a revision's requests over the window.
const requestsQuery = `sum(increase(` + requestsMetric + `{app="$app",revision="$rev"}[$window]))`

// promDuration writes d as PromQL does, in whole seconds (at least 1s).
func promDuration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10) + "s"
}

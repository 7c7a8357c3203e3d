package harness

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Dist is the Markdown table cells "min | p50 | p90 | max | every run" of durations in
// seconds, as the benchmarks report them; dashes when there are none.
func Dist(d []time.Duration) string {
	if len(d) == 0 {
		return "– | – | – | – | –"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	every := make([]string, len(d))
	for i, v := range d {
		every[i] = sec(v)
	}
	return fmt.Sprintf("%s | %s | %s | %s | %s", sec(s[0]), sec(q(0.5)), sec(q(0.9)), sec(s[len(s)-1]), strings.Join(every, " "))
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

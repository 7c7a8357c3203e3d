package autoscale

import (
	"fmt"
	"math"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// Usage is what an app's instances used over a window, the busiest instance's.
type Usage struct {
	Window time.Duration
	// Observed is how much of the window has samples.
	Observed time.Duration
	// CPUP90 is the 90th percentile of an instance's CPU over the window, and CPUPeak
	// its highest, in cores.
	CPUP90, CPUPeak float64
	// MemoryPeak is an instance's highest resident memory, in bytes.
	MemoryPeak float64
}

// Advice is the recommended resources of an app (the VPA's recommender in
// recommendation mode), with what its limits are likely to do.
type Advice struct {
	Usage Usage
	// MilliCPU and MemoryBytes are the recommendation: the CPU's 90th percentile, and
	// the memory peak plus 15%, as the VPA's recommender takes them.
	MilliCPU    int64
	MemoryBytes int64
	// Warnings say when the spec's limits are likely to throttle or to OOM-kill, or are
	// far above what the app uses.
	Warnings []string
}

// MinObserved is how much of the window must have samples for advice.
const MinObserved = 5 * time.Minute

// memoryMargin is the VPA recommender's safety margin (its safetyMarginFraction).
const memoryMargin = 0.15

// Advise recommends resources from usage, and says what the spec's res would do.
func Advise(u Usage, res spec.Resources) (Advice, error) {
	if u.Observed < MinObserved {
		return Advice{Usage: u}, fmt.Errorf("%s of samples in the last %s; advice needs %s", u.Observed.Round(time.Minute), u.Window, MinObserved)
	}
	a := Advice{Usage: u,
		MilliCPU:    max(10, roundUp(int64(math.Ceil(u.CPUP90*1000)), 10)),
		MemoryBytes: max(16<<20, roundUp(int64(math.Ceil(u.MemoryPeak*(1+memoryMargin))), 1<<20))}
	if l := float64(res.MilliCPU) / 1000; l > 0 {
		switch {
		case u.CPUP90 >= 0.9*l:
			a.Warnings = append(a.Warnings, fmt.Sprintf("likely throttled: CPU's 90th percentile is %s of the %s limit", cores(u.CPUP90), cores(l)))
		case u.CPUPeak >= 0.95*l:
			a.Warnings = append(a.Warnings, fmt.Sprintf("throttled at peaks: CPU reached %s of the %s limit", cores(u.CPUPeak), cores(l)))
		case a.MilliCPU*2 < res.MilliCPU:
			a.Warnings = append(a.Warnings, fmt.Sprintf("cpu %s is more than twice what the app uses", cores(l)))
		}
	}
	if l := float64(res.MemoryBytes); l > 0 {
		switch {
		case u.MemoryPeak >= 0.9*l:
			a.Warnings = append(a.Warnings, fmt.Sprintf("likely OOM-killed: memory peaked at %s of the %s limit", mib(u.MemoryPeak), mib(l)))
		case a.MemoryBytes*2 < res.MemoryBytes:
			a.Warnings = append(a.Warnings, fmt.Sprintf("memory %s is more than twice what the app uses", mib(l)))
		}
	}
	return a, nil
}

func roundUp(v, unit int64) int64 { return (v + unit - 1) / unit * unit }

func cores(v float64) string { return fmt.Sprintf("%dm", int64(math.Round(v*1000))) }

func mib(v float64) string { return fmt.Sprintf("%.0fMi", v/(1<<20)) }

package autoscale

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

func TestAdviceTakesCPUsP90AndMemorysPeakPlus15Percent(t *testing.T) {
	u := Usage{Window: time.Hour, Observed: time.Hour, CPUP90: 0.123, CPUPeak: 0.2, MemoryPeak: 100 << 20}
	a, err := Advise(u, spec.Resources{MilliCPU: 500, MemoryBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if a.MilliCPU != 130 || a.MemoryBytes != 115<<20 {
		t.Errorf("advice %dm, %d MiB; want 130m (p90 123m rounded up to 10m) and 115 MiB (100 MiB + 15%%)", a.MilliCPU, a.MemoryBytes>>20)
	}
	if len(a.Warnings) != 2 || !strings.Contains(a.Warnings[0], "cpu 500m is more than twice") || !strings.Contains(a.Warnings[1], "memory 256Mi is more than twice") {
		t.Errorf("warnings %q, want both limits called generous", a.Warnings)
	}
}

func TestAdviceWarnsOfThrottlingAndOOMKills(t *testing.T) {
	u := Usage{Window: time.Hour, Observed: time.Hour, CPUP90: 0.48, CPUPeak: 0.5, MemoryPeak: 240 << 20}
	a, err := Advise(u, spec.Resources{MilliCPU: 500, MemoryBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 2 || !strings.HasPrefix(a.Warnings[0], "likely throttled: CPU's 90th percentile is 480m of the 500m limit") ||
		!strings.HasPrefix(a.Warnings[1], "likely OOM-killed: memory peaked at 240Mi of the 256Mi limit") {
		t.Errorf("warnings %q", a.Warnings)
	}
	if a.MemoryBytes != 276<<20 {
		t.Errorf("memory advice %d MiB, want 276 (240 + 15%%, rounded up)", a.MemoryBytes>>20)
	}
	// peaks alone
	u.CPUP90 = 0.3
	if a, _ := Advise(u, spec.Resources{MilliCPU: 500}); len(a.Warnings) != 1 || !strings.HasPrefix(a.Warnings[0], "throttled at peaks") {
		t.Errorf("warnings %q, want throttling at peaks", a.Warnings)
	}
}

func TestAdviceNeedsFiveMinutesOfSamples(t *testing.T) {
	if _, err := Advise(Usage{Window: time.Hour, Observed: 2 * time.Minute}, spec.Resources{}); err == nil || !strings.Contains(err.Error(), "advice needs 5m0s") {
		t.Errorf("err %v", err)
	}
}

package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/rollout"
)

// TestSizingAdviceReadsTheInstancesUsageFromTheMonitor: 40 minutes of one instance's
// /proc samples in the embedded TSDB (100m of CPU with a minute at 450m, 100 MiB of
// memory with a peak of 200 MiB) give the VPA-style advice, through the real PromQL
// engine: cpu 100m (the p90), memory 230 MiB (the peak + 15%), and a note that the
// 500m CPU limit is more than twice that.
func TestSizingAdviceReadsTheInstancesUsageFromTheMonitor(t *testing.T) {
	mon, err := monitor.Open(monitor.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	c, _, _ := newController(t, func(o *Options) { o.Metrics = mon })
	deployYAML(t, c, "app: hello\nbuild: {binary: /bin/a}\nresources: {cpu: 500m, memory: 256Mi}\n")
	waitPhase(t, c, rollout.Completed, 1)

	if _, err := c.Sizing(context.Background(), "hello"); err == nil || !strings.Contains(err.Error(), "advice needs 5m0s") {
		t.Fatalf("advice without samples: %v, want a wait for 5 minutes of them", err)
	}

	cpu := labels.FromStrings("__name__", "tend_instance_cpu_seconds_total", "app", "hello", "instance", "hello-1-0")
	mem := labels.FromStrings("__name__", "tend_instance_resident_memory_bytes", "app", "hello", "instance", "hello-1-0")
	app := mon.DB().Appender(context.Background())
	now := time.Now()
	start := now.Add(-40 * time.Minute)
	used := 0.0
	for ts := start; ts.Before(now); ts = ts.Add(5 * time.Second) {
		rate, rss := 0.1, float64(100<<20)
		if d := ts.Sub(start); d > 20*time.Minute && d <= 21*time.Minute {
			rate, rss = 0.45, 200<<20
		}
		used += rate * 5
		if _, err := app.Append(0, cpu, ts.UnixMilli(), used); err != nil {
			t.Fatal(err)
		}
		if _, err := app.Append(0, mem, ts.UnixMilli(), rss); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	a, err := c.Sizing(context.Background(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if a.MilliCPU != 100 || a.MemoryBytes != 230<<20 {
		t.Errorf("advice %dm and %d MiB, want 100m and 230 MiB (usage %+v)", a.MilliCPU, a.MemoryBytes>>20, a.Usage)
	}
	if a.Usage.Observed < 39*time.Minute || a.Usage.CPUPeak < 0.4 {
		t.Errorf("usage %+v, want 40 minutes observed and the 450m peak", a.Usage)
	}
	if len(a.Warnings) != 1 || !strings.HasPrefix(a.Warnings[0], "cpu 500m is more than twice") {
		t.Errorf("warnings %q, want the generous cpu limit named", a.Warnings)
	}
}

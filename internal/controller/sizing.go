package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/spec"
)

// SizingWindow is how far back sizing advice looks.
const SizingWindow = time.Hour

// Sizing is the resources advice for app from what its instances used over the last
// SizingWindow (the VPA's recommender, in recommendation mode), against the spec's
// resources.
func (c *Controller) Sizing(ctx context.Context, app string) (autoscale.Advice, error) {
	if c.o.Metrics == nil {
		return autoscale.Advice{}, fmt.Errorf("this tend server has no metrics to advise from")
	}
	l, err := c.existing(ctx, app)
	if err != nil {
		return autoscale.Advice{}, err
	}
	var res spec.Resources
	if err := l.do(ctx, func(context.Context) error { res = l.rec.Spec.Resources; return l.deployed() }); err != nil {
		return autoscale.Advice{}, err
	}
	sel := fmt.Sprintf(`{app=%q}`, app)
	w := fmt.Sprintf("[%dm:15s]", int(SizingWindow.Minutes()))
	cpu := "(sum by (instance) (rate(tend_instance_cpu_seconds_total" + sel + "[1m])) or sum by (instance) (rate(process_cpu_seconds_total" + sel + "[1m])))"
	mem := "(max by (instance) (tend_instance_resident_memory_bytes" + sel + ") or max by (instance) (process_resident_memory_bytes" + sel + "))"
	u := autoscale.Usage{Window: SizingWindow}
	now := time.Now()
	var minutes float64
	for _, q := range []struct {
		query string
		into  *float64
	}{
		{"max(quantile_over_time(0.9, " + cpu + w + "))", &u.CPUP90},
		{"max(max_over_time(" + cpu + w + "))", &u.CPUPeak},
		{"max(max_over_time(" + mem + w + "))", &u.MemoryPeak},
		{fmt.Sprintf("max(count_over_time(%s[%dm:1m]))", mem, int(SizingWindow.Minutes())), &minutes},
	} {
		v, err := c.o.Metrics.Query(ctx, q.query, now)
		if err != nil {
			return autoscale.Advice{}, fmt.Errorf("query the metrics: %w", err)
		}
		if len(v) > 0 {
			*q.into = v[0].Value
		}
	}
	u.Observed = time.Duration(minutes) * time.Minute
	return autoscale.Advise(u, res)
}

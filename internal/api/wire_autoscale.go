package api

import (
	"math"
	"strconv"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// wireAutoscale is the API's view of an app's autoscaler (nil: not autoscaled).
func wireAutoscale(s *controller.AutoscaleStatus) *v1.Autoscale {
	if s == nil {
		return nil
	}
	a := &v1.Autoscale{Min: s.Min, Max: s.Max, Floor: s.Floor, Current: s.Current, Desired: s.Current, Note: s.Note}
	if d := s.Last; d != nil {
		a.Desired, a.LastSync, a.Reason, a.Limit = d.Desired, d.At, d.Reason, d.Limit
		for _, r := range d.Results {
			m := v1.AutoscaleMetric{Name: r.Metric, Value: r.Value, Target: r.Target, Ratio: r.Ratio, Instances: r.Instances, Replicas: r.Replicas}
			switch {
			case r.Kind == autoscale.Utilization:
				m.Unit = "%"
			case r.Metric == "rps":
				m.Unit = "req/s"
			}
			if r.Err != nil {
				m.Error = r.Err.Error()
			}
			a.Metrics = append(a.Metrics, m)
		}
	}
	return a
}

// wireAutoscaleHistory is what GET /v1/apps/{app}/autoscale answers.
func wireAutoscaleHistory(app string, changes []store.AutoscaleChange, s *controller.AutoscaleStatus) v1.AutoscaleHistory {
	h := v1.AutoscaleHistory{App: app, Autoscale: wireAutoscale(s), Changes: make([]v1.AutoscaleChange, len(changes))}
	for i, c := range changes {
		h.Changes[i] = v1.AutoscaleChange{At: c.At, From: c.From, To: c.To, Metric: c.Metric, Limit: c.Limit, Reason: c.Reason}
	}
	return h
}

// wireSizing is the API's view of sizing advice, or of why there is none.
func wireSizing(a autoscale.Advice, res spec.Resources, err error) *v1.Sizing {
	s := &v1.Sizing{Window: v1.Duration(a.Usage.Window), Observed: v1.Duration(a.Usage.Observed),
		Spec: v1.Resources{CPU: milliCPU(res.MilliCPU), Memory: mebibytes(res.MemoryBytes)}}
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.CPUP90, s.CPUPeak, s.MemoryPeak = int64(math.Round(a.Usage.CPUP90*1000)), int64(math.Round(a.Usage.CPUPeak*1000)), int64(a.Usage.MemoryPeak)
	s.Recommended = v1.Resources{CPU: milliCPU(a.MilliCPU), Memory: mebibytes(a.MemoryBytes)}
	s.Warnings = a.Warnings
	return s
}

// milliCPU is a CPU amount as tend.yaml writes it ("" for none).
func milliCPU(m int64) string {
	if m == 0 {
		return ""
	}
	return strconv.FormatInt(m, 10) + "m"
}

// mebibytes is a memory amount as tend.yaml writes it ("" for none), rounded up to Mi.
func mebibytes(b int64) string {
	if b == 0 {
		return ""
	}
	return strconv.FormatInt((b+1<<20-1)>>20, 10) + "Mi"
}

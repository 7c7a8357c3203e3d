package api

import (
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/autoscale"
	"github.com/tendhq/tend/internal/controller"
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

package api

import (
	"reflect"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// The conversions from the server's types to the API's (package v1).

func wireApp(s controller.Status) v1.App {
	a := v1.App{App: s.App, Strategy: v1.Strategy(s.Strategy), Instances: s.Instances, Hosts: s.Hosts, Path: s.Path,
		Rollout: wireRollout(s.Rollout), Running: make([]v1.Instance, len(s.Running))}
	a.Rollout.Steps = wireSteps(s.Canary)
	if s.Current != nil {
		r := wireRevision(*s.Current)
		a.Current = &r
	}
	for i, in := range s.Running {
		a.Running[i] = wireInstance(in)
	}
	if m := s.Maintenance; m != nil {
		a.Maintenance = &v1.Maintenance{Message: m.Message, RetryAfter: m.RetryAfter, Since: m.Since}
	}
	a.Autoscale = wireAutoscale(s.Autoscale)
	return a
}

func wireRollout(st rollout.State) v1.Rollout {
	r := v1.Rollout{App: st.App, Strategy: v1.Strategy(st.Strategy), Stable: st.Stable, From: st.From, To: st.To, Replicas: st.Replicas,
		Phase: v1.Phase(st.Phase), Step: st.Step, Weight: st.Weight, NewReplicas: st.NewReplicas, OldReplicas: st.OldReplicas,
		ReadyNew: st.ReadyNew, PauseUntil: st.PauseUntil, ManualPause: st.ManualPause, StepStarted: st.StepStarted,
		RollbackWindow: v1.Duration(st.RollbackWindow), Message: st.Message, StartedAt: st.StartedAt, ProgressAt: st.ProgressAt,
		PreviewToken: st.PreviewToken}
	if st.FinishedAt != nil {
		r.FinishedAt = *st.FinishedAt
	}
	for _, w := range st.Warm {
		r.Warm = append(r.Warm, v1.Warm{Revision: w.Revision, Until: w.Until})
	}
	for _, v := range st.Verdicts {
		r.Verdicts = append(r.Verdicts, wireVerdict(v))
	}
	if st.Analysis != nil {
		v := wireVerdict(*st.Analysis)
		r.Analysis = &v
	}
	return r
}

// wireSteps lists a canary's steps, each analysis with the canary's defaults in it.
func wireSteps(c *spec.Canary) []v1.CanaryStep {
	if c == nil {
		return nil
	}
	out := make([]v1.CanaryStep, len(c.Steps))
	for i, s := range c.Steps {
		switch {
		case s.Weight != nil:
			w := *s.Weight
			out[i].Weight = &w
		case s.Pause != nil:
			out[i].Pause = &v1.PauseStep{Duration: v1.Duration(s.Pause.Duration)}
		case s.Analysis != nil:
			a := rollout.StepAnalysis(c.Analysis, s.Analysis)
			names := make([]string, len(a.Checks))
			for j, ch := range a.Checks {
				names[j] = ch.Name
			}
			out[i].Analysis = &v1.AnalysisStep{Checks: names, Interval: v1.Duration(a.Interval), Count: a.Count}
		}
	}
	return out
}

func wireVerdict(v rollout.Verdict) v1.Verdict {
	out := v1.Verdict{Step: v.Step, At: v.At, Result: v1.Result(v.Result), Message: v.Message}
	for _, m := range v.Measurements {
		wm := v1.Measurement{At: m.At, Result: v1.Result(m.Result), Message: m.Message, Requests: m.Requests, Needed: m.Needed,
			Checks: make([]v1.Check, len(m.Checks)), Score: m.Score}
		for i, c := range m.Checks {
			wm.Checks[i] = v1.Check{Name: c.Name, Result: v1.CheckResult(c.Result), Value: c.Value, Stable: c.Stable,
				Threshold: c.Threshold, Class: c.Class, PValue: c.PValue, Reason: c.Reason}
		}
		out.Measurements = append(out.Measurements, wm)
	}
	return out
}

func wireInstance(in runtime.Instance) v1.Instance {
	return v1.Instance{ID: in.ID, App: in.App, Revision: in.Revision, Addr: in.Addr, AdminAddr: in.AdminAddr, PID: in.PID,
		State: v1.InstanceState(in.State), Restarts: in.Restarts, StartedAt: in.StartedAt, ReadySince: in.ReadySince,
		Message: in.Message, Limits: in.Limits}
}

func wireRevision(r store.Revision) v1.Revision {
	spec, _ := document(reflect.ValueOf(r.Spec), true).(map[string]any)
	return v1.Revision{App: r.App, Number: r.Number, Artifact: r.Artifact, Path: r.Path, Version: r.Version, Commit: r.Commit,
		BuildTime: r.BuildTime, ConfigHash: r.ConfigHash, Spec: spec, Secrets: r.Secrets, CreatedAt: r.CreatedAt}
}

func wireHistory(h controller.History) v1.History {
	out := v1.History{Revisions: make([]v1.Revision, len(h.Revisions)), Stable: h.Stable, Events: make([]v1.Event, len(h.Events))}
	for i, r := range h.Revisions {
		out.Revisions[i] = wireRevision(r)
		// the history is newest first: the revision before r is the next one listed
		if i+1 < len(h.Revisions) {
			out.Revisions[i].Changes = revisionChanges(h.Revisions[i+1], r)
		}
	}
	for i, e := range h.Events {
		out.Events[i] = v1.Event{App: e.App, At: e.At, Kind: e.Kind, Revision: e.Revision, Message: e.Message}
	}
	return out
}

func wireRoutes(apps []gateway.AppState) []v1.Route {
	out := make([]v1.Route, len(apps))
	for i, a := range apps {
		r := v1.Route{App: a.App, Hosts: a.Hosts, PathPrefix: a.PathPrefix, Endpoints: make([]v1.Endpoint, len(a.Endpoints))}
		for _, s := range a.Splits {
			r.Splits = append(r.Splits, v1.Split{Revision: s.Revision, Weight: s.Weight})
		}
		for j, e := range a.Endpoints {
			r.Endpoints[j] = v1.Endpoint{Address: e.Address, Revision: e.Revision, Instance: e.Instance, InFlight: e.InFlight, Ejected: e.Ejected}
		}
		out[i] = r
	}
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// document turns a spec value into what its JSON is, but with durations as Go
// duration strings: the spec as a person reads it. As encoding/json does, a field is
// left out only when its tag says omitempty or omitzero and it is zero (a false
// redirect or a maxSurge of 0 stay: they are not the defaults). nil means "leave out".
func document(v reflect.Value, held bool) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return document(v.Elem(), true)
	}
	if v.IsZero() && !held {
		return nil // only for fields that may be left out (see the struct case)
	}
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Type() == timeType:
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			omit := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
			if d := document(v.Field(i), !omit); d != nil {
				out[name] = d
			}
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = document(v.Index(i), true)
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[k.String()] = document(v.MapIndex(k), true)
		}
		return out
	}
	return v.Interface()
}

package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// startRunbooks runs, in the background, every runbook that matches a newly fired alert,
// unless remediation is off or the runbook ran for the app within its cooldown. The
// caller holds m.mu.
func (m *Manager) startRunbooks(in *Incident, fired []Alert) {
	if m.closed {
		return
	}
	now := time.Now()
	started := map[string]bool{}
	defer func() {
		if len(started) > 0 {
			m.saveRemediation(context.Background())
		}
	}()
	for _, a := range fired {
		for _, rb := range m.o.Config.Runbooks {
			if started[rb.Name] || !Matches(rb.Match, a.Labels) {
				continue
			}
			started[rb.Name] = true
			app := cmpOr(a.Labels["app"], in.App)
			if !m.rem.Enabled {
				in.add(now, KindSkipped, fmt.Sprintf("runbook %q not run: remediation is off (tend remediation on)", rb.Name))
				m.actions.WithLabelValues(app, rb.Name, "runbook", "skipped").Inc()
				continue
			}
			cooldown := rb.Cooldown
			if cooldown == 0 {
				cooldown = m.o.Config.Remediation.Cooldown
			}
			key := rb.Name + "/" + app
			if last, ok := m.rem.LastRun[key]; ok && now.Sub(last) < cooldown {
				in.add(now, KindSkipped, fmt.Sprintf("runbook %q not run: it ran for %s %s ago, cooldown %s", rb.Name, app, now.Sub(last).Round(time.Second), cooldown))
				m.actions.WithLabelValues(app, rb.Name, "runbook", "skipped").Inc()
				continue
			}
			if m.rem.LastRun == nil {
				m.rem.LastRun = map[string]time.Time{}
			}
			m.rem.LastRun[key] = now
			dry := rb.DryRun || m.o.Config.Remediation.DryRun
			in.Runs = append(in.Runs, Run{Runbook: rb.Name, At: now, DryRun: dry, Result: "pending"})
			text := fmt.Sprintf("runbook %q started for %s", rb.Name, Describe(a.Labels))
			if dry {
				text += " (dry run: steps are recorded, not run)"
			}
			in.add(now, KindAction, text)
			m.running.Add(1)
			go func(id int, rb *Runbook, a Alert, app string, dry bool) {
				defer m.running.Done()
				m.runbook(id, rb, a, app, dry)
			}(in.ID, rb, a, app, dry)
		}
	}
}

// runbook runs the steps of rb one after another; a failed step ends the run.
func (m *Manager) runbook(id int, rb *Runbook, a Alert, app string, dry bool) {
	ctx := context.Background()
	rolledBack := false // a rollout this run started (its own rollback) does not stop its later steps
	for i, step := range rb.Steps {
		kind := step.Kind()
		label := fmt.Sprintf("step %d/%d %s", i+1, len(rb.Steps), step.Name)
		if dry {
			m.record(ctx, id, Entry{Kind: KindAction, Text: label + ": would run " + step.Describe(app, a.Labels) + " (dry run)"})
			m.actions.WithLabelValues(app, rb.Name, kind, "dry-run").Inc()
			continue
		}
		if why := m.refuse(ctx, app, step, rolledBack); why != "" {
			m.record(ctx, id, Entry{Kind: KindSkipped, Text: label + ": not run: " + why})
			m.actions.WithLabelValues(app, rb.Name, kind, "skipped").Inc()
			if step.changes() {
				m.finish(ctx, id, rb.Name, "skipped")
				return
			}
			continue
		}
		timeout := step.Timeout
		if timeout == 0 {
			timeout = 2 * time.Minute
			if step.Profile != nil {
				timeout += step.Profile.CPU
			}
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		out, files, err := m.execute(sctx, id, app, a, step)
		cancel()
		if m.o.Mask != nil {
			out = m.o.Mask(ctx, app, out) // a command may print what it should not
		}
		e := Entry{Kind: KindAction, Text: label + ": " + step.Describe(app, a.Labels) + ": ok", Output: out, Files: files}
		result := "ok"
		if err != nil {
			e.Text = fmt.Sprintf("%s: %s: failed: %v", label, step.Describe(app, a.Labels), err)
			result = "failed"
		}
		m.record(ctx, id, e)
		m.actions.WithLabelValues(app, rb.Name, kind, result).Inc()
		rolledBack = rolledBack || (err == nil && step.Rollback != nil)
		if err != nil {
			m.finish(ctx, id, rb.Name, "failed")
			return
		}
	}
	if dry {
		m.finish(ctx, id, rb.Name, "dry-run")
	}
}

// refuse says why a step may not run now ("" when it may): remediation switched off,
// a rollout in progress that the run did not start itself (only a rollback may run
// then), or the app's hourly action budget spent. A step that may run is counted
// against the budget.
func (m *Manager) refuse(ctx context.Context, app string, step Step, ownRollout bool) string {
	if !step.changes() {
		return ""
	}
	if step.Rollback == nil && !ownRollout {
		busy, err := m.o.Actions.InRollout(ctx, app)
		if err != nil {
			return "cannot tell whether a rollout is in progress: " + err.Error()
		}
		if busy {
			return "a rollout of " + app + " is in progress; only a rollback runs during one"
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.rem.Enabled {
		return "remediation was switched off (tend remediation on)"
	}
	now := time.Now()
	var recent []time.Time
	for _, t := range m.rem.Actions[app] {
		if now.Sub(t) < time.Hour {
			recent = append(recent, t)
		}
	}
	if limit := m.o.Config.Remediation.ActionsPerHour; len(recent) >= limit {
		return fmt.Sprintf("%s had %d actions in the last hour, the limit (remediation.actionsPerHour: %d); the next is allowed in %s",
			app, len(recent), limit, recent[0].Add(time.Hour).Sub(now).Round(time.Second))
	}
	if m.rem.Actions == nil {
		m.rem.Actions = map[string][]time.Time{}
	}
	m.rem.Actions[app] = append(recent, now)
	m.saveRemediation(ctx)
	return ""
}

// record appends an entry to an incident's timeline and saves it.
func (m *Manager) record(ctx context.Context, id int, e Entry) {
	if _, err := m.change(ctx, id, func(in *Incident, now time.Time) error {
		e.At = now
		in.Timeline = append(in.Timeline, e)
		return nil
	}); err != nil {
		m.log.Error("record in an incident's timeline", "id", id, "err", err)
	}
}

// finish sets the result of an incident's pending run of a runbook.
func (m *Manager) finish(ctx context.Context, id int, runbook, result string) {
	if _, err := m.change(ctx, id, func(in *Incident, _ time.Time) error {
		for i := len(in.Runs) - 1; i >= 0; i-- {
			if in.Runs[i].Runbook == runbook && in.Runs[i].Result == "pending" {
				in.Runs[i].Result = result
				break
			}
		}
		return nil
	}); err != nil {
		m.log.Error("record a runbook's result", "id", id, "err", err)
	}
}

// saveRemediation writes the remediation state; the caller holds m.mu.
func (m *Manager) saveRemediation(ctx context.Context) {
	if err := m.o.Store.Put(ctx, store.RemediationKey, m.rem); err != nil {
		m.log.Error("save the remediation state; a restart may forget actions taken", "err", err)
	}
}

// RunbookStats is a runbook's measured record.
type RunbookStats struct {
	Runbook *Runbook `json:"runbook"`
	// Runs counts real runs; Succeeded those after which the incident resolved within
	// successWithin; Failed those with a failed step or no resolution in time; Pending
	// those still inside their window. DryRuns and Skipped runs (a safety limit stopped
	// them) are not judged.
	Runs      int `json:"runs"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Pending   int `json:"pending"`
	DryRuns   int `json:"dryRuns"`
	Skipped   int `json:"skipped"`
	// Confidence is Succeeded / (Succeeded + Failed): the seed's GetConfidence, measured
	// (-1 before any run was judged).
	Confidence float64   `json:"confidence"`
	LastRun    time.Time `json:"lastRun,omitzero"`
}

// Runbooks reports every configured runbook with its measured success rate.
func (m *Manager) Runbooks(ctx context.Context) ([]RunbookStats, error) {
	all, err := m.List(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]RunbookStats, 0, len(m.o.Config.Runbooks))
	for _, rb := range m.o.Config.Runbooks {
		s := RunbookStats{Runbook: rb, Confidence: -1}
		for _, in := range all {
			for _, r := range in.Runs {
				if r.Runbook != rb.Name {
					continue
				}
				if r.At.After(s.LastRun) {
					s.LastRun = r.At
				}
				switch {
				case r.DryRun:
					s.DryRuns++
					continue
				case r.Result == "skipped":
					s.Skipped++
					continue
				case r.Result == "succeeded":
					s.Succeeded++
				case r.Result == "failed":
					s.Failed++
				default:
					s.Pending++
				}
				s.Runs++
			}
		}
		if judged := s.Succeeded + s.Failed; judged > 0 {
			s.Confidence = float64(s.Succeeded) / float64(judged)
		}
		out = append(out, s)
	}
	return out, nil
}

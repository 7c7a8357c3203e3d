package api

import (
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/store"
)

// The conversions of incidents, runbooks, the remediation state and certificates to the
// API's types (package v1).

func wireIncidents(list []incident.Incident) []v1.Incident {
	out := make([]v1.Incident, len(list))
	for i := range list {
		out[i] = wireIncident(&list[i])
	}
	return out
}

func wireIncident(in *incident.Incident) v1.Incident {
	out := v1.Incident{ID: in.ID, Key: in.Key, Title: in.Title, Severity: v1.Severity(in.Severity), Status: v1.IncidentStatus(in.Status),
		App: in.App, Revision: in.Revision, Labels: in.Labels, Alerts: make([]v1.IncidentAlert, len(in.Alerts)),
		Timeline: make([]v1.TimelineEntry, len(in.Timeline)), CreatedAt: in.CreatedAt, AcknowledgedAt: timePtr(in.AckedAt),
		AcknowledgedBy: in.AckedBy, ResolvedAt: timePtr(in.ResolvedAt), Escalation: in.Escalation, Level: in.Level, Since: in.Since}
	for i, a := range in.Alerts {
		out.Alerts[i] = v1.IncidentAlert{Fingerprint: a.Fingerprint, Status: v1.AlertStatus(a.Status), Labels: a.Labels,
			Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt}
	}
	for i, e := range in.Timeline {
		out.Timeline[i] = v1.TimelineEntry{At: e.At, Kind: v1.EntryKind(e.Kind), Text: e.Text, Output: e.Output, Files: e.Files, By: e.By}
	}
	for _, r := range in.Runs {
		out.Runs = append(out.Runs, v1.RunbookRun{Runbook: r.Runbook, At: r.At, DryRun: r.DryRun, Result: v1.RunResult(r.Result)})
	}
	return out
}

// timePtr is t, or nil for an unset (nil or zero) time.
func timePtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	c := *t
	return &c
}

func wireRunbooks(stats []incident.RunbookStats, limits incident.Limits, rem incident.Remediation) v1.Runbooks {
	out := v1.Runbooks{Runbooks: make([]v1.RunbookStats, len(stats)), Remediation: wireRemediation(rem),
		Limits: v1.Limits{ActionsPerHour: limits.ActionsPerHour, Cooldown: v1.Duration(limits.Cooldown), DryRun: limits.DryRun}}
	for i, s := range stats {
		out.Runbooks[i] = v1.RunbookStats{Runs: s.Runs, Succeeded: s.Succeeded, Failed: s.Failed, Pending: s.Pending,
			DryRuns: s.DryRuns, Skipped: s.Skipped, Confidence: s.Confidence, LastRun: s.LastRun}
		if s.Runbook != nil {
			out.Runbooks[i].Runbook = wireRunbook(s.Runbook)
		}
	}
	return out
}

func wireRunbook(rb *incident.Runbook) v1.Runbook {
	out := v1.Runbook{Name: rb.Name, Description: rb.Description, Match: rb.Match, Steps: make([]v1.RunbookStep, len(rb.Steps)),
		DryRun: rb.DryRun, SuccessWithin: v1.Duration(rb.SuccessWithin), Cooldown: v1.Duration(rb.Cooldown)}
	for i, s := range rb.Steps {
		st := v1.RunbookStep{Name: s.Name, Kind: v1.StepKind(s.Kind()), Rollback: s.Rollback, Timeout: v1.Duration(s.Timeout)}
		if s.Restart != nil {
			st.Restart = &v1.RestartStep{Instance: s.Restart.Instance}
		}
		if s.Scale != nil {
			st.Scale = &v1.ScaleStep{To: s.Scale.To, By: s.Scale.By}
		}
		if s.Profile != nil {
			st.Profile = &v1.ProfileStep{CPU: v1.Duration(s.Profile.CPU), Heap: s.Profile.Heap, Goroutines: s.Profile.Goroutines}
		}
		if s.Command != nil {
			st.Command = &v1.CommandStep{Argv: s.Command.Argv, ExpectExit: s.Command.ExpectExit, ExpectOutput: s.Command.ExpectOutput}
		}
		if s.Webhook != nil {
			st.Webhook = &v1.WebhookStep{URL: s.Webhook.URL}
		}
		out.Steps[i] = st
	}
	return out
}

func wireRemediation(r incident.Remediation) v1.Remediation {
	return v1.Remediation{Enabled: r.Enabled, ChangedBy: r.ChangedBy, ChangedAt: r.ChangedAt, Actions: r.Actions, LastRun: r.LastRun}
}

// wireCertificate is what the API shows of a stored certificate record (never its key),
// with its state at now.
func wireCertificate(c store.Certificate, now time.Time) v1.Certificate {
	out := v1.Certificate{Host: c.Host, App: c.App, Source: v1.CertSource(c.Source), Issuer: c.Issuer, NotAfter: c.NotAfter,
		Obtained: c.Obtained, RenewAt: c.RenewAt, LastError: c.LastError, LastErrorAt: c.LastErrorAt,
		Failures: c.Failures, CertFile: c.CertFile, OnDemand: c.OnDemand}
	switch {
	case !c.Unclaimed.IsZero():
		out.State = v1.CertUnclaimed
	case c.NotAfter.IsZero():
		out.State = v1.CertPending
	case !now.Before(c.NotAfter):
		out.State = v1.CertExpired
	case c.LastError != "":
		out.State = v1.CertFailing
	default:
		out.State = v1.CertValid
	}
	return out
}

// Package incident turns alert groups into incidents with a timeline, escalates them until someone acknowledges, and runs runbooks within safety limits.
package incident

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Status is where an incident is in its life.
type Status string

// Statuses: triggered → acknowledged → resolved; an acknowledgement that times out
// triggers the incident again.
const (
	Triggered    Status = "triggered"
	Acknowledged Status = "acknowledged"
	Resolved     Status = "resolved"
)

// Entry kinds of a timeline.
const (
	KindOpened    = "opened"
	KindFired     = "alert-fired"
	KindCleared   = "alert-resolved"
	KindNotified  = "notified"
	KindEscalated = "escalated"
	KindAction    = "action"
	KindSkipped   = "skipped"
	KindComment   = "comment"
	KindAck       = "acknowledged"
	KindRetrigger = "retriggered"
	KindResolved  = "resolved"
)

// Incident is one alert group from the Alertmanager while it fires, with everything that
// happened to it.
type Incident struct {
	ID int `json:"id"`
	// Key is the Alertmanager group key; a new group (or the same after it resolved)
	// opens a new incident.
	Key      string `json:"key"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	Status   Status `json:"status"`
	App      string `json:"app,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Labels are the labels the group's alerts share.
	Labels     map[string]string `json:"labels"`
	Alerts     []Alert           `json:"alerts"`
	Timeline   []Entry           `json:"timeline"`
	CreatedAt  time.Time         `json:"createdAt"`
	AckedAt    *time.Time        `json:"ackedAt,omitempty"`
	AckedBy    string            `json:"ackedBy,omitempty"`
	ResolvedAt *time.Time        `json:"resolvedAt,omitempty"`
	// Escalation is the policy that pages for it, Level the levels already paged and
	// Since when the current round of escalation started (creation or re-trigger).
	Escalation string    `json:"escalation,omitempty"`
	Level      int       `json:"level"`
	Since      time.Time `json:"since"`
	// Runs are the runbooks run for it.
	Runs []Run `json:"runs,omitempty"`
}

// Alert is one alert of the group as the Alertmanager last reported it.
type Alert struct {
	Fingerprint string            `json:"fingerprint"`
	Status      string            `json:"status"` // firing or resolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
}

// Entry is one line of an incident's timeline.
type Entry struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
	// Output is what an action printed or answered; Files are what it captured
	// (paths relative to the incident's directory).
	Output string   `json:"output,omitempty"`
	Files  []string `json:"files,omitempty"`
	By     string   `json:"by,omitempty"`
}

// Run is one run of a runbook for an incident.
type Run struct {
	Runbook string    `json:"runbook"`
	At      time.Time `json:"at"`
	DryRun  bool      `json:"dryRun,omitempty"`
	// Result is "pending" until the incident resolves within the runbook's
	// successWithin ("succeeded") or does not, or a step failed ("failed").
	Result string `json:"result"`
}

// Open reports whether the incident still needs someone.
func (in *Incident) Open() bool { return in.Status != Resolved }

// Firing are the alerts of the incident that still fire.
func (in *Incident) Firing() []Alert {
	var out []Alert
	for _, a := range in.Alerts {
		if a.Status == "firing" {
			out = append(out, a)
		}
	}
	return out
}

func (in *Incident) add(at time.Time, kind, text string) *Entry {
	in.Timeline = append(in.Timeline, Entry{At: at, Kind: kind, Text: text})
	return &in.Timeline[len(in.Timeline)-1]
}

// Describe is an alert's name with its other labels, as PromQL writes a series:
// HighErrorRate{app="hello", revision="2"}; just the name when it has no others.
func Describe(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	if len(parts) == 0 {
		return labels["alertname"]
	}
	return labels["alertname"] + "{" + strings.Join(parts, ", ") + "}"
}

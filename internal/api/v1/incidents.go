package v1

import "time"

// The bodies of /v1/incidents, /v1/runbooks and /v1/remediation. POST /v1/incidents/alerts
// takes the Alertmanager's webhook notification (version 4): its format is the
// Alertmanager's, not part of this contract.

// IncidentStatus is where an incident is in its life: triggered → acknowledged →
// resolved; an acknowledgement that outlives its policy's ackTimeout triggers it again.
type IncidentStatus string

// Incident statuses.
const (
	IncidentTriggered    IncidentStatus = "triggered"    // needs someone: its escalation policy pages
	IncidentAcknowledged IncidentStatus = "acknowledged" // someone is on it: escalation stops
	IncidentResolved     IncidentStatus = "resolved"     // every alert of its group resolved, or someone resolved it
)

// Severity is an incident's severity: its alerts' severity label, "warning" when they
// have none. A rule may set another value; it travels as it is.
type Severity string

// The severities of tend's built-in rules.
const (
	SeverityCritical Severity = "critical" // users are affected now
	SeverityWarning  Severity = "warning"  // something needs a look soon
)

// AlertStatus is whether an alert fires.
type AlertStatus string

// Alert statuses.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// EntryKind is what a timeline entry records.
type EntryKind string

// Timeline entry kinds.
const (
	EntryOpened        EntryKind = "opened"         // the Alertmanager's notification opened the incident
	EntryAlertFired    EntryKind = "alert-fired"    // an alert of the group fired
	EntryAlertResolved EntryKind = "alert-resolved" // an alert of the group resolved
	EntryNotified      EntryKind = "notified"       // an escalation level was paged (or paging it failed)
	EntryEscalated     EntryKind = "escalated"      // nobody acknowledged in time: the next level
	EntryAction        EntryKind = "action"         // a runbook started, or one of its steps ran
	EntrySkipped       EntryKind = "skipped"        // a safety limit stopped a runbook or a step
	EntryComment       EntryKind = "comment"        // a person's note (tend incident comment)
	EntryAcknowledged  EntryKind = "acknowledged"   // someone acknowledged it
	EntryRetriggered   EntryKind = "retriggered"    // the acknowledgement timed out: triggered again
	EntryResolved      EntryKind = "resolved"       // the incident resolved
)

// RunResult is how a runbook's run for an incident ended.
type RunResult string

// Runbook run results.
const (
	RunPending   RunResult = "pending"   // ran; the incident has not resolved yet within the runbook's successWithin
	RunSucceeded RunResult = "succeeded" // the incident resolved within successWithin
	RunFailed    RunResult = "failed"    // a step failed, or the incident outlived successWithin
	RunSkipped   RunResult = "skipped"   // a safety limit stopped a step that changes something
	RunDryRun    RunResult = "dry-run"   // a dry run: its steps were recorded, not run
)

// StepKind is the action of a runbook step.
type StepKind string

// Runbook step kinds.
const (
	StepRollback        StepKind = "rollback"         // roll the app back to its last good revision
	StepRestart         StepKind = "restart"          // restart the app's instances one by one
	StepRestartInstance StepKind = "restart-instance" // restart the instance the alert names
	StepScale           StepKind = "scale"            // change the app's instance count
	StepProfile         StepKind = "profile"          // capture profiles from the instances' admin port
	StepCommand         StepKind = "command"          // run a program and check how it ended
	StepWebhook         StepKind = "webhook"          // POST the incident to a URL
)

// IncidentAction is what POST /v1/incidents/{id}/{action} does.
type IncidentAction string

// Incident actions.
const (
	IncidentAck     IncidentAction = "ack"     // acknowledge: stop escalating
	IncidentResolve IncidentAction = "resolve" // resolve by hand
	IncidentComment IncidentAction = "comment" // add a note to the timeline
)

// Incident answers GET /v1/incidents/{id} and POST /v1/incidents/{id}/{action}; GET
// /v1/incidents lists them, newest first.
type Incident struct {
	ID int `json:"id"`
	// Key is the Alertmanager group key; a new group (or the same after it resolved)
	// opens a new incident.
	Key      string         `json:"key"`
	Title    string         `json:"title"`
	Severity Severity       `json:"severity"`
	Status   IncidentStatus `json:"status"`
	App      string         `json:"app,omitempty"`
	Revision string         `json:"revision,omitempty"`
	// Labels are the labels the group's alerts share.
	Labels    map[string]string `json:"labels"`
	Alerts    []IncidentAlert   `json:"alerts"`
	Timeline  []TimelineEntry   `json:"timeline"`
	CreatedAt time.Time         `json:"createdAt"`
	// AcknowledgedAt and AcknowledgedBy are absent until someone acknowledges it.
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	AcknowledgedBy string     `json:"acknowledgedBy,omitempty"`
	// ResolvedAt is absent while it is open.
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
	// Escalation is the policy that pages for it, Level the number of its levels paged,
	// Since when the current round of escalation started (opening or re-trigger).
	Escalation string    `json:"escalation,omitempty"`
	Level      int       `json:"level"`
	Since      time.Time `json:"since,omitzero"`
	// Runs are the runbooks run for it.
	Runs []RunbookRun `json:"runs,omitempty"`
}

// IncidentAlert is one alert of an incident's group as the Alertmanager last reported it.
type IncidentAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Status      AlertStatus       `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt,omitzero"`
	// EndsAt is absent while the alert fires.
	EndsAt time.Time `json:"endsAt,omitzero"`
}

// TimelineEntry is one line of an incident's timeline.
type TimelineEntry struct {
	At   time.Time `json:"at"`
	Kind EntryKind `json:"kind"`
	Text string    `json:"text"`
	// Output is what an action printed or answered; Files are what it captured, each at
	// GET /v1/incidents/{id}/files/{name}.
	Output string   `json:"output,omitempty"`
	Files  []string `json:"files,omitempty"`
	By     string   `json:"by,omitempty"`
}

// RunbookRun is one run of a runbook for an incident.
type RunbookRun struct {
	Runbook string    `json:"runbook"`
	At      time.Time `json:"at"`
	DryRun  bool      `json:"dryRun,omitempty"`
	Result  RunResult `json:"result"`
}

// IncidentRequest is the body of POST /v1/incidents/{id}/{action} (optional).
type IncidentRequest struct {
	// By is who acts; Text the note for the timeline (required to comment).
	By   string `json:"by,omitempty"`
	Text string `json:"text,omitempty"`
}

// Runbooks answers GET /v1/runbooks.
type Runbooks struct {
	// Runbooks are the server's runbooks (tend server --incidents FILE), in its order.
	Runbooks    []RunbookStats `json:"runbooks"`
	Limits      Limits         `json:"limits"`
	Remediation Remediation    `json:"remediation"`
}

// RunbookStats is a runbook with its measured record.
type RunbookStats struct {
	Runbook Runbook `json:"runbook"`
	// Runs counts real runs: Succeeded, Failed and Pending ones. DryRuns and Skipped runs
	// (a safety limit stopped them) are not judged.
	Runs      int `json:"runs"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Pending   int `json:"pending"`
	DryRuns   int `json:"dryRuns"`
	Skipped   int `json:"skipped"`
	// Confidence is Succeeded / (Succeeded + Failed), from 0 to 1; -1 before any run was judged.
	Confidence float64 `json:"confidence"`
	// LastRun is absent for a runbook that never ran.
	LastRun time.Time `json:"lastRun,omitzero"`
}

// Runbook is what to do when alerts with its match labels fire.
type Runbook struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Match       map[string]string `json:"match"`
	Steps       []RunbookStep     `json:"steps"`
	// DryRun records the steps without running them.
	DryRun bool `json:"dryRun,omitempty"`
	// SuccessWithin is how soon after a run the incident must resolve for it to succeed.
	SuccessWithin Duration `json:"successWithin"`
	// Cooldown overrides the remediation cooldown (Limits.Cooldown) for this runbook;
	// absent when it does not.
	Cooldown Duration `json:"cooldown,omitzero"`
}

// RunbookStep is one action of a runbook: Kind says which, and that field is set.
type RunbookStep struct {
	Name     string       `json:"name,omitempty"`
	Kind     StepKind     `json:"kind"`
	Rollback *struct{}    `json:"rollback,omitempty"`
	Restart  *RestartStep `json:"restart,omitempty"`
	Scale    *ScaleStep   `json:"scale,omitempty"`
	Profile  *ProfileStep `json:"profile,omitempty"`
	Command  *CommandStep `json:"command,omitempty"`
	Webhook  *WebhookStep `json:"webhook,omitempty"`
	// Timeout bounds the step; absent: 2m (a profile's: 2m plus its cpu).
	Timeout Duration `json:"timeout,omitzero"`
}

// RestartStep restarts the app's instances, or with Instance only the alert's instance.
type RestartStep struct {
	Instance bool `json:"instance,omitempty"`
}

// ScaleStep sets the app's instance count to To, or changes it By (may be negative).
type ScaleStep struct {
	To int `json:"to,omitempty"`
	By int `json:"by,omitempty"`
}

// ProfileStep captures a CPU profile of CPU (absent: none), a heap and a goroutine profile.
type ProfileStep struct {
	CPU        Duration `json:"cpu,omitzero"`
	Heap       bool     `json:"heap,omitempty"`
	Goroutines bool     `json:"goroutines,omitempty"`
}

// CommandStep runs a program (no shell) and checks its exit code and output.
type CommandStep struct {
	Argv         []string `json:"argv"`
	ExpectExit   int      `json:"expectExit,omitempty"`
	ExpectOutput string   `json:"expectOutput,omitempty"`
}

// WebhookStep POSTs the incident as JSON to URL and expects a 2xx answer.
type WebhookStep struct {
	URL string `json:"url"`
}

// Limits keep remediation safe.
type Limits struct {
	// ActionsPerHour caps the actions runbooks take on one app in any hour.
	ActionsPerHour int `json:"actionsPerHour"`
	// Cooldown is the least time between two runs of one runbook for one app.
	Cooldown Duration `json:"cooldown"`
	// DryRun records what every runbook would do without doing it.
	DryRun bool `json:"dryRun,omitempty"`
}

// Remediation answers GET and PUT /v1/remediation: the kill switch of automated
// remediation and the actions taken.
type Remediation struct {
	Enabled bool `json:"enabled"`
	// ChangedBy and ChangedAt are absent until someone flips the switch.
	ChangedBy string    `json:"changedBy,omitempty"`
	ChangedAt time.Time `json:"changedAt,omitzero"`
	// Actions are the times of the actions taken per app (the hourly limit counts them).
	Actions map[string][]time.Time `json:"actions,omitempty"`
	// LastRun is when each runbook last ran for each app, keyed "runbook/app".
	LastRun map[string]time.Time `json:"lastRun,omitempty"`
}

// RemediationRequest is the body of PUT /v1/remediation.
type RemediationRequest struct {
	Enabled bool   `json:"enabled"`
	By      string `json:"by,omitempty"`
}

package api

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/store"
)

// rfc3339 is a time of the fixtures.
func rfc3339(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// incidentFixture is what the server holds after a canary of hello failed: incident 2
// fires now (a runbook pending, nobody has acknowledged it), incident 1 was acknowledged
// and resolved an hour earlier; the runbooks, the remediation switch (off) and the
// gateway's certificates at now.
func incidentFixture(t *testing.T) (list []incident.Incident, stats []incident.RunbookStats, limits incident.Limits,
	rem incident.Remediation, certs []store.Certificate, now time.Time) {
	t.Helper()
	labels := map[string]string{"alertname": "HighErrorRate", "app": "hello", "revision": "2", "severity": "critical"}
	acked, resolved := rfc3339(t, "2026-12-01T08:05:00Z"), rfc3339(t, "2026-12-01T08:12:00Z")
	list = []incident.Incident{
		{ID: 2, Key: `{}:{alertname="HighErrorRate", app="hello"}`, Title: "hello fails 50% of its requests", Severity: "critical",
			Status: incident.Triggered, App: "hello", Revision: "2", Labels: labels,
			Alerts: []incident.Alert{{Fingerprint: "9f2c", Status: "firing", Labels: labels,
				Annotations: map[string]string{"summary": "hello fails 50% of its requests"}, StartsAt: rfc3339(t, "2026-12-01T09:00:00Z")}},
			Timeline: []incident.Entry{
				{At: rfc3339(t, "2026-12-01T09:00:03Z"), Kind: incident.KindOpened, Text: `opened by the Alertmanager (group HighErrorRate{app="hello"}, 1 alerts); escalation policy "oncall"`},
				{At: rfc3339(t, "2026-12-01T09:00:03Z"), Kind: incident.KindFired, Text: `HighErrorRate{app="hello", revision="2", severity="critical"}`, Output: "hello fails 50% of its requests"},
				{At: rfc3339(t, "2026-12-01T09:00:03Z"), Kind: incident.KindAction, Text: `runbook "roll back on high error rate" started for HighErrorRate{app="hello"}`},
				{At: rfc3339(t, "2026-12-01T09:00:04Z"), Kind: incident.KindNotified, Text: `paged level 1 of "oncall"`},
				{At: rfc3339(t, "2026-12-01T09:00:05Z"), Kind: incident.KindAction, Text: "step 1/2 capture profiles: capture profiles of hello: ok",
					Output: "cpu profile of hello-2-efgh (1s)", Files: []string{"cpu-hello-2-efgh.pprof"}},
			},
			CreatedAt: rfc3339(t, "2026-12-01T09:00:03Z"), Escalation: "oncall", Level: 1, Since: rfc3339(t, "2026-12-01T09:00:03Z"),
			Runs: []incident.Run{{Runbook: "roll back on high error rate", At: rfc3339(t, "2026-12-01T09:00:03Z"), Result: "pending"}}},
		{ID: 1, Key: `{}:{alertname="QueueStuck", app="worker"}`, Title: "QueueStuck{app=\"worker\"}", Severity: "warning",
			Status: incident.Resolved, App: "worker", Labels: map[string]string{"alertname": "QueueStuck", "app": "worker"},
			Alerts: []incident.Alert{{Fingerprint: "11ab", Status: "resolved", Labels: map[string]string{"alertname": "QueueStuck", "app": "worker"},
				StartsAt: rfc3339(t, "2026-12-01T07:59:00Z"), EndsAt: rfc3339(t, "2026-12-01T08:11:30Z")}},
			Timeline: []incident.Entry{
				{At: rfc3339(t, "2026-12-01T08:00:00Z"), Kind: incident.KindOpened, Text: "opened by the Alertmanager (group QueueStuck, 1 alerts)"},
				{At: rfc3339(t, "2026-12-01T08:00:00Z"), Kind: incident.KindSkipped, Text: `runbook "poke" not run: it ran for worker 4m0s ago, cooldown 10m0s`},
				{At: acked, Kind: incident.KindAck, Text: "looking", By: "bob"},
				{At: rfc3339(t, "2026-12-01T08:07:00Z"), Kind: incident.KindComment, Text: "a poison message", By: "bob"},
				{At: resolved, Kind: incident.KindResolved, Text: "resolved by hand", By: "bob"},
			},
			CreatedAt: rfc3339(t, "2026-12-01T08:00:00Z"), AckedAt: &acked, AckedBy: "bob", ResolvedAt: &resolved, Since: rfc3339(t, "2026-12-01T08:00:00Z"),
			Runs: []incident.Run{{Runbook: "poke", At: rfc3339(t, "2026-12-01T07:56:00Z"), DryRun: true, Result: "dry-run"}}},
	}
	rollback := &incident.Runbook{Name: "roll back on high error rate", Match: map[string]string{"alertname": "HighErrorRate"},
		SuccessWithin: 3 * time.Minute, Steps: []incident.Step{
			{Name: "capture profiles", Profile: &incident.ProfileStep{CPU: time.Second, Heap: true}},
			{Name: "rollback", Rollback: &struct{}{}, Timeout: 90 * time.Second},
		}}
	poke := &incident.Runbook{Name: "poke", Description: "nudge the worker", Match: map[string]string{"alertname": "QueueStuck"},
		DryRun: true, SuccessWithin: 5 * time.Minute, Cooldown: 15 * time.Minute, Steps: []incident.Step{
			{Name: "scale", Scale: &incident.ScaleStep{By: 1}},
			{Name: "tell the team", Command: &incident.CommandStep{Argv: []string{"notify", "worker"}, ExpectOutput: "sent"}},
		}}
	stats = []incident.RunbookStats{
		{Runbook: rollback, Runs: 4, Succeeded: 3, Pending: 1, Confidence: 1, LastRun: rfc3339(t, "2026-12-01T09:00:03Z")},
		{Runbook: poke, DryRuns: 1, Confidence: -1, LastRun: rfc3339(t, "2026-12-01T07:56:00Z")},
		{Runbook: &incident.Runbook{Name: "never ran", Match: map[string]string{"alertname": "DiskFull"}, SuccessWithin: 5 * time.Minute,
			Steps: []incident.Step{{Name: "restart-instance", Restart: &incident.RestartStep{Instance: true}}, {Name: "webhook", Webhook: &incident.WebhookStep{URL: "http://127.0.0.1:9000/disk"}}}},
			Confidence: -1},
	}
	limits = incident.Limits{ActionsPerHour: 3, Cooldown: 10 * time.Minute}
	rem = incident.Remediation{Enabled: false, ChangedBy: "ana", ChangedAt: rfc3339(t, "2026-12-01T09:02:00Z"),
		Actions: map[string][]time.Time{"hello": {rfc3339(t, "2026-12-01T09:00:05Z")}},
		LastRun: map[string]time.Time{"roll back on high error rate/hello": rfc3339(t, "2026-12-01T09:00:03Z")}}
	certs = []store.Certificate{
		{Host: "hello.example.com", App: "hello", Source: store.CertFromACME, Issuer: "R11", NotBefore: rfc3339(t, "2026-11-01T00:00:00Z"),
			NotAfter: rfc3339(t, "2027-01-30T00:00:00Z"), Obtained: rfc3339(t, "2026-11-01T00:05:00Z"), RenewAt: rfc3339(t, "2026-12-31T00:00:00Z"), KeyPEM: "secret"},
		{Host: "new.example.com", App: "hello", Source: store.CertFromACME, Issuer: "R11", NotAfter: rfc3339(t, "2026-12-20T00:00:00Z"),
			Obtained: rfc3339(t, "2026-09-21T00:00:00Z"), LastError: "acme: rate limited", LastErrorAt: rfc3339(t, "2026-12-01T08:59:00Z"),
			Failures: 2, RenewAt: rfc3339(t, "2026-12-01T09:04:00Z"), OnDemand: true},
		{Host: "files.example.com", App: "static", Source: store.CertFromFile, Issuer: "Corp CA", NotAfter: rfc3339(t, "2026-11-30T00:00:00Z"),
			Obtained: rfc3339(t, "2026-06-01T00:00:00Z"), CertFile: "/etc/tend/static.pem", KeyFile: "/etc/tend/static.key"},
	}
	return list, stats, limits, rem, certs, rfc3339(t, "2026-12-01T09:03:00Z")
}

func TestIncidentAndCertificateBodiesMatchTheirGoldenFiles(t *testing.T) {
	list, stats, limits, rem, certs, now := incidentFixture(t)
	wiredCerts := make([]v1.Certificate, len(certs))
	for i, c := range certs {
		wiredCerts[i] = wireCertificate(c, now)
	}
	nanos := regexp.MustCompile(`"(cooldown|successWithin|timeout|cpu)": *[0-9]`)
	bodies := map[string][]byte{}
	for name, v := range map[string]any{"incidents.json": wireIncidents(list), "incident.json": wireIncident(&list[1]),
		"runbooks.json": wireRunbooks(stats, limits, rem), "remediation.json": wireRemediation(rem), "certs.json": wiredCerts} {
		b := golden(t, name, v)
		if m := nanos.Find(b); m != nil {
			t.Errorf("%s: a duration as a number: %s", name, m)
		}
		if zeroTime.Match(b) {
			t.Errorf("%s: an unset time is written as 0001-01-01", name)
		}
		bodies[name] = b
	}
	has := func(name string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(string(bodies[name]), w) {
				t.Errorf("%s lacks %s", name, w)
			}
		}
	}
	lacks := func(name string, absent ...string) {
		t.Helper()
		for _, a := range absent {
			if strings.Contains(string(bodies[name]), a) {
				t.Errorf("%s has %s", name, a)
			}
		}
	}
	has("runbooks.json", `"cooldown": "10m0s"`, `"cooldown": "15m0s"`, `"successWithin": "3m0s"`, `"cpu": "1s"`, `"timeout": "1m30s"`,
		`"kind": "restart-instance"`, `"kind": "rollback"`, `"rollback": {}`, `"confidence": -1`)
	has("incident.json", `"acknowledgedAt": "2026-12-01T08:05:00Z"`, `"acknowledgedBy": "bob"`, `"resolvedAt": "2026-12-01T08:12:00Z"`,
		`"endsAt": "2026-12-01T08:11:30Z"`, `"result": "dry-run"`, `"kind": "acknowledged"`)
	lacks("incident.json", `"ackedAt"`, `"ackedBy"`)
	has("certs.json", `"state": "valid"`, `"state": "failing"`, `"state": "expired"`, `"source": "file"`)
	lacks("certs.json", "secret", "keyFile", "notBefore")

	// the triggered incident: nobody acknowledged it, it is not resolved, its alert fires
	var got []map[string]json.RawMessage
	if err := json.Unmarshal(bodies["incidents.json"], &got); err != nil || len(got) != 2 {
		t.Fatalf("incidents.json: %v", err)
	}
	for _, absent := range []string{"acknowledgedAt", "acknowledgedBy", "resolvedAt"} {
		if _, ok := got[0][absent]; ok {
			t.Errorf("the triggered incident has %q", absent)
		}
	}
	if strings.Contains(string(got[0]["alerts"]), "endsAt") {
		t.Errorf("a firing alert has an endsAt: %s", got[0]["alerts"])
	}
	if string(got[0]["status"]) != `"triggered"` || string(got[0]["severity"]) != `"critical"` {
		t.Errorf("status %s, severity %s", got[0]["status"], got[0]["severity"])
	}
	lacks("remediation.json", `"enabled": true`)
	has("remediation.json", `"changedBy": "ana"`, `"roll back on high error rate/hello": "2026-12-01T09:00:03Z"`)

	// and a client reads back what the server wrote
	var back v1.Runbooks
	if err := json.Unmarshal(bodies["runbooks.json"], &back); err != nil || back.Limits.Cooldown != v1.Duration(10*time.Minute) ||
		back.Runbooks[0].Runbook.Steps[0].Profile.CPU != v1.Duration(time.Second) || back.Runbooks[1].Runbook.Cooldown != v1.Duration(15*time.Minute) {
		t.Errorf("read back: %+v %v", back, err)
	}
	var in v1.Incident
	if err := json.Unmarshal(bodies["incident.json"], &in); err != nil || in.AcknowledgedAt == nil || !in.AcknowledgedAt.Equal(rfc3339(t, "2026-12-01T08:05:00Z")) ||
		in.Status != v1.IncidentResolved || in.Timeline[2].Kind != v1.EntryAcknowledged {
		t.Errorf("read back: %+v %v", in, err)
	}
}

// Every status, entry kind, run result and step kind the server has is one the contract documents.
func TestTheIncidentEnumsCoverTheServersKinds(t *testing.T) {
	for in, out := range map[incident.Status]v1.IncidentStatus{incident.Triggered: v1.IncidentTriggered,
		incident.Acknowledged: v1.IncidentAcknowledged, incident.Resolved: v1.IncidentResolved} {
		if string(in) != string(out) {
			t.Errorf("incident status %s: the API has %s", in, out)
		}
	}
	kinds := map[string]v1.EntryKind{incident.KindOpened: v1.EntryOpened, incident.KindFired: v1.EntryAlertFired,
		incident.KindCleared: v1.EntryAlertResolved, incident.KindNotified: v1.EntryNotified, incident.KindEscalated: v1.EntryEscalated,
		incident.KindAction: v1.EntryAction, incident.KindSkipped: v1.EntrySkipped, incident.KindComment: v1.EntryComment,
		incident.KindAck: v1.EntryAcknowledged, incident.KindRetrigger: v1.EntryRetriggered, incident.KindResolved: v1.EntryResolved}
	for in, out := range kinds {
		if in != string(out) {
			t.Errorf("timeline kind %s: the API has %s", in, out)
		}
	}
	steps := map[v1.StepKind]incident.Step{v1.StepRollback: {Rollback: &struct{}{}}, v1.StepRestart: {Restart: &incident.RestartStep{}},
		v1.StepRestartInstance: {Restart: &incident.RestartStep{Instance: true}}, v1.StepScale: {Scale: &incident.ScaleStep{}},
		v1.StepProfile: {Profile: &incident.ProfileStep{}}, v1.StepCommand: {Command: &incident.CommandStep{}}, v1.StepWebhook: {Webhook: &incident.WebhookStep{}}}
	for out, s := range steps {
		if s.Kind() != string(out) {
			t.Errorf("step %+v is a %s; the API says %s", s, s.Kind(), out)
		}
	}
	for _, src := range []string{store.CertFromACME, store.CertFromFile} {
		if v := v1.CertSource(src); v != v1.CertFromACME && v != v1.CertFromFile {
			t.Errorf("certificate source %s is not in the API's enum", src)
		}
	}
}

package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/store"
)

// rollBackManager is an incident manager on st whose one runbook profiles, then rolls
// back, on HighErrorRate.
func rollBackManager(t *testing.T, ctx context.Context, st *store.Store, dir string) *incident.Manager {
	t.Helper()
	cfgFile := filepath.Join(dir, "incidents.yaml")
	if err := os.WriteFile(cfgFile, []byte(`runbooks:
- name: roll back
  match: {alertname: HighErrorRate}
  steps:
  - profile: {cpu: 2s, heap: true}
  - rollback: {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := incident.LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := incident.Open(ctx, incident.Options{Store: st, Config: cfg, Dir: filepath.Join(dir, "incidents")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The incident routes, against a real incident manager: what a script gets from them
// and what the client makes of it.
func TestTheIncidentRoutesServeTheAPIsTypes(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := rollBackManager(t, context.Background(), st, dir)
	srv := httptest.NewServer(Handler(Options{Token: "t", Incidents: m}))
	defer srv.Close()
	c := &Client{Base: srv.URL, Token: "t"}
	ctx := context.Background()
	raw := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// the kill switch first, so that the runbook is recorded as skipped, not run
	rem, err := c.SetRemediation(ctx, false, "ana")
	if err != nil || rem.Enabled || rem.ChangedBy != "ana" || rem.ChangedAt.IsZero() {
		t.Fatalf("PUT /v1/remediation: %+v %v", rem, err)
	}
	if code, body := raw("GET", "/v1/remediation", ""); code != 200 || !strings.Contains(body, `"enabled": false`) || strings.Contains(body, "0001-01-01") {
		t.Errorf("GET /v1/remediation: %d %s", code, body)
	}

	// the Alertmanager's notification, in its own format (a firing alert's endsAt is the zero time)
	code, body := raw("POST", "/v1/incidents/alerts", `{"version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
		"receiver": "tend-incidents", "groupLabels": {"alertname": "HighErrorRate"},
		"commonLabels": {"alertname": "HighErrorRate", "app": "hello", "severity": "critical"},
		"commonAnnotations": {"summary": "hello fails"},
		"alerts": [{"status": "firing", "fingerprint": "f1", "labels": {"alertname": "HighErrorRate", "app": "hello", "severity": "critical"},
			"startsAt": "2026-12-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}`)
	if code != http.StatusNoContent {
		t.Fatalf("POST /v1/incidents/alerts: %d %s", code, body)
	}
	code, body = raw("GET", "/v1/incidents", "")
	if code != 200 {
		t.Fatalf("GET /v1/incidents: %d %s", code, body)
	}
	for _, want := range []string{`"status": "triggered"`, `"severity": "critical"`, `"kind": "alert-fired"`, `"startsAt": "2026-12-01T09:00:00Z"`,
		`"kind": "skipped"`} { // the list is read from the store: it holds what the runbooks added too
		if !strings.Contains(body, want) {
			t.Errorf("GET /v1/incidents lacks %s:\n%s", want, body)
		}
	}
	for _, absent := range []string{"acknowledgedAt", "resolvedAt", "endsAt", "0001-01-01"} {
		if strings.Contains(body, absent) {
			t.Errorf("GET /v1/incidents has %s, which is unset:\n%s", absent, body)
		}
	}

	if code, body := raw("GET", "/v1/incidents/1", ""); code != 200 || !strings.Contains(body, `"kind": "skipped"`) || strings.Contains(body, "acknowledgedAt") {
		t.Errorf("GET /v1/incidents/1: %d %s, want the runbook skipped (remediation is off) and no acknowledgedAt", code, body)
	}
	in, err := c.IncidentAction(ctx, 1, v1.IncidentAck, v1.IncidentRequest{By: "bob", Text: "looking"})
	if err != nil || in.Status != v1.IncidentAcknowledged || in.AcknowledgedBy != "bob" || in.AcknowledgedAt == nil {
		t.Fatalf("ack: %+v %v", in, err)
	}
	if code, body := raw("GET", "/v1/incidents/1", ""); code != 200 || !strings.Contains(body, `"acknowledgedAt": "`) || strings.Contains(body, "ackedAt") {
		t.Errorf("GET /v1/incidents/1 after the ack: %d %s", code, body)
	}
	if code, body := raw("POST", "/v1/incidents/1/snooze", ""); code != 404 || !strings.Contains(body, "want ack, resolve or comment") {
		t.Errorf("an unknown action: %d %s", code, body)
	}
	list, err := c.Incidents(ctx, false)
	if err != nil || len(list) != 1 || list[0].Status != v1.IncidentAcknowledged || list[0].Timeline[len(list[0].Timeline)-1].Kind != v1.EntryAcknowledged {
		t.Errorf("client Incidents: %+v %v", list, err)
	}
	in, err = c.IncidentAction(ctx, 1, v1.IncidentResolve, v1.IncidentRequest{By: "bob"})
	if err != nil || in.Status != v1.IncidentResolved || in.ResolvedAt == nil {
		t.Fatalf("resolve: %+v %v", in, err)
	}
	if list, err := c.Incidents(ctx, false); err != nil || len(list) != 0 {
		t.Errorf("open incidents after the resolve: %+v %v", list, err)
	}
	if code, body := raw("GET", "/v1/incidents", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("no open incident: %d %s, want []", code, body)
	}

	code, body = raw("GET", "/v1/runbooks", "")
	for _, want := range []string{`"cooldown": "10m0s"`, `"successWithin": "5m0s"`, `"cpu": "2s"`, `"kind": "profile"`, `"kind": "rollback"`,
		`"actionsPerHour": 3`, `"confidence": -1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /v1/runbooks lacks %s: %d\n%s", want, code, body)
		}
	}
	if strings.Contains(body, "lastRun") {
		t.Errorf("GET /v1/runbooks: a runbook that never ran has a lastRun:\n%s", body)
	}
	rbs, err := c.Runbooks(ctx)
	if err != nil || len(rbs.Runbooks) != 1 || rbs.Limits.Cooldown != v1.Duration(10*time.Minute) || rbs.Runbooks[0].Runbook.Steps[1].Kind != v1.StepRollback {
		t.Errorf("client Runbooks: %+v %v", rbs, err)
	}
	var again v1.Remediation
	if code, body := raw("PUT", "/v1/remediation", `{"enabled": true, "by": "carl"}`); code != 200 || json.Unmarshal([]byte(body), &again) != nil ||
		!again.Enabled || again.ChangedBy != "carl" {
		t.Errorf("PUT /v1/remediation: %d %s", code, body)
	}
}

func TestCertificatesAreServedWithTheirStateAndNoKey(t *testing.T) {
	now := time.Now()
	certs := []store.Certificate{
		{Host: "hello.example.com", App: "hello", Source: store.CertFromACME, NotAfter: now.Add(60 * 24 * time.Hour), KeyPEM: "secret"},
		{Host: "new.example.com", App: "hello", Source: store.CertFromACME, LastError: "acme: rate limited", LastErrorAt: now, OnDemand: true},
		{Host: "files.example.com", App: "static", Source: store.CertFromFile, NotAfter: now.Add(-time.Hour), KeyFile: "/etc/tend/static.key"},
		{Host: "old.example.com", App: "hello", Source: store.CertFromACME, NotAfter: now.Add(time.Hour), LastError: "acme: rate limited"},
		{Host: "gone.example.com", App: "hello", Source: store.CertFromACME, NotAfter: now.Add(time.Hour), Unclaimed: now},
	}
	srv := httptest.NewServer(Handler(Options{Token: "t", Certs: func(context.Context) ([]store.Certificate, error) { return certs, nil }}))
	defer srv.Close()
	c := &Client{Base: srv.URL, Token: "t"}
	got, err := c.Certificates(context.Background())
	if err != nil || len(got) != len(certs) {
		t.Fatalf("Certificates: %+v %v", got, err)
	}
	for i, want := range []v1.CertState{v1.CertValid, v1.CertPending, v1.CertExpired, v1.CertFailing, v1.CertUnclaimed} {
		if got[i].State != want {
			t.Errorf("%s is %s, want %s", got[i].Host, got[i].State, want)
		}
	}
	if got[1].Source != v1.CertFromACME || !got[1].NotAfter.IsZero() || got[1].LastError != "acme: rate limited" || !got[1].OnDemand {
		t.Errorf("the pending certificate: %+v", got[1])
	}
	no := httptest.NewServer(Handler(Options{Token: "t"}))
	defer no.Close()
	if _, err := (&Client{Base: no.URL, Token: "t"}).Certificates(context.Background()); err == nil || !strings.Contains(err.Error(), "--https") {
		t.Errorf("without an HTTPS listener: %v", err)
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/incident"
)

// faultySpec is hello with 3 instances, rolling, with extra env (a YAML flow mapping's body).
func faultySpec(env string) string {
	return fmt.Sprintf(`app: hello
build: {main: %s}
instances: 3
env: {%s}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
shutdown: {grace: 5s, drain: 500ms}
strategy:
  rolling: {maxSurge: 1, maxUnavailable: 0}
  progressDeadline: 30s
`, helloDir, env)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// webhookConfig is an Alertmanager config that sends every group to url with tend's
// default route timings (DefaultConfig).
func webhookConfig(url string) string {
	return fmt.Sprintf(`route:
  receiver: oncall
  group_by: [alertname, app]
  group_wait: 3s
  group_interval: 10s
  repeat_interval: 4h
receivers:
- name: oncall
  webhook_configs:
  - url: %s/hook
    send_resolved: true
`, url)
}

func incidentsOf(t *testing.T, s *server) []incident.Incident {
	t.Helper()
	var list []incident.Incident
	out := s.mustTend("incidents", "--all", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tend incidents -o json: %v\n%s", err, out)
	}
	return list
}

func timelineKinds(in incident.Incident) []string {
	var k []string
	for _, e := range in.Timeline {
		k = append(k, e.Kind)
	}
	return k
}

// TestHighErrorRateOpensIncidentRollsBackAndResolves is issue 5's loop: a revision that
// fails half its requests, deployed without analysis, is noticed by the built-in rule,
// paged through the Alertmanager, turned into an incident whose runbook rolls it back,
// and the incident resolves by itself with its whole timeline.
func TestHighErrorRateOpensIncidentRollsBackAndResolves(t *testing.T) {
	hook := newReceiver(t)
	incidents := writeFile(t, "incidents.yaml", `runbooks:
- name: roll back on high error rate
  match: {alertname: HighErrorRate}
  successWithin: 3m
  steps:
  - rollback: {}
`)
	s := startServer(t, t.TempDir(), "--alertmanager-config", writeFile(t, "am.yaml", webhookConfig(hook.URL)), "--incidents", incidents)
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, faultySpec(`RELEASE: "1"`)))

	// steady traffic; the time of the first failed request is when users saw the fault
	var mu sync.Mutex
	var firstFault time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			code, _, _, err := s.get(client, "/")
			mu.Lock()
			if (err != nil || code >= 500) && firstFault.IsZero() {
				firstFault = time.Now()
			}
			mu.Unlock()
		}
	})
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(2 * time.Second)
	s.mustTend("deploy", "-f", writeSpec(t, dir, faultySpec(`RELEASE: "2", FAULT_ERROR_RATE: "0.5"`)))

	var fired received
	waitFor(t, 90*time.Second, "HighErrorRate at the webhook", func() error {
		for _, r := range hook.all() {
			if r.Body["status"] == "firing" && slices.Contains(alertNames(r.Body), "HighErrorRate") {
				fired = r
				return nil
			}
		}
		return fmt.Errorf("payloads so far: %d", len(hook.all()))
	})
	mu.Lock()
	took := fired.At.Sub(firstFault)
	mu.Unlock()
	t.Logf("fault to webhook delivery: %s (rule interval 2s, for 10s, group_wait 3s)", took.Round(100*time.Millisecond))
	if fired.Body["version"] != "4" || fired.Path != "/hook" {
		t.Fatalf("webhook payload is not Alertmanager's version 4: %s", fired.Raw)
	}
	labels := fired.Body["commonLabels"].(map[string]any)
	if labels["app"] != "hello" || labels["revision"] != "2" || labels["severity"] != "critical" {
		t.Fatalf("alert labels: %v", labels)
	}

	// the runbook rolled back to revision 1, and the incident resolves when the alert does
	waitFor(t, 30*time.Second, "the rollback", func() error {
		if st := s.status("hello"); st.Rollout.Stable != 1 || !st.Rollout.Phase.Terminal() {
			return fmt.Errorf("stable %d, phase %s", st.Rollout.Stable, st.Rollout.Phase)
		}
		return nil
	})
	var in incident.Incident
	waitFor(t, 90*time.Second, "the incident to resolve", func() error {
		list := incidentsOf(t, s)
		if len(list) == 0 {
			return fmt.Errorf("no incident")
		}
		in = list[len(list)-1]
		if in.Status != incident.Resolved {
			return fmt.Errorf("incident %d is %s: %v", in.ID, in.Status, timelineKinds(in))
		}
		return nil
	})
	if in.Title == "" || in.App != "hello" || in.Revision != "2" || in.Severity != "critical" || len(in.Runs) != 1 || in.Runs[0].Result != "succeeded" {
		t.Fatalf("incident: %+v", in)
	}
	kinds := strings.Join(timelineKinds(in), " ")
	if !strings.HasPrefix(kinds, "opened alert-fired action action") || !strings.HasSuffix(kinds, "alert-resolved resolved") {
		t.Fatalf("timeline: %s", kinds)
	}
	if step := in.Timeline[3]; !strings.Contains(step.Text, "roll hello back to its last good revision: ok") || !strings.Contains(step.Output, "revision 1 serves hello again") {
		t.Fatalf("the rollback step says %q / %q", step.Text, step.Output)
	}
	waitFor(t, 30*time.Second, "the resolved notification at the webhook", func() error {
		for _, r := range hook.all() {
			if r.Body["status"] == "resolved" && slices.Contains(alertNames(r.Body), "HighErrorRate") {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	var rb api.RunbooksAnswer
	if err := json.Unmarshal([]byte(s.mustTend("runbooks", "-o", "json")), &rb); err != nil || len(rb.Runbooks) != 1 || rb.Runbooks[0].Succeeded != 1 || rb.Runbooks[0].Confidence != 1 {
		t.Fatalf("runbooks: %+v %v", rb, err)
	}
	if out := s.mustTend("runbooks"); !strings.Contains(out, "100%") {
		t.Fatalf("tend runbooks does not show the measured confidence:\n%s", out)
	}
	pm := s.mustTend("incident", "postmortem", fmt.Sprint(in.ID))
	for _, want := range []string{"# Postmortem: incident", "HighErrorRate", "roll hello back to its last good revision: ok", "alert-resolved"} {
		if !strings.Contains(pm, want) {
			t.Fatalf("postmortem lacks %q:\n%s", want, pm)
		}
	}

	// restart tend: the incident and its timeline are still there
	s.stop()
	s2 := startServer(t, s.DataDir, "--alertmanager-config", writeFile(t, "am.yaml", webhookConfig(hook.URL)), "--incidents", incidents)
	var again incident.Incident
	if err := json.Unmarshal([]byte(s2.mustTend("incident", "show", fmt.Sprint(in.ID), "-o", "json")), &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Timeline) != len(in.Timeline) || again.Status != incident.Resolved {
		t.Fatalf("after a restart the incident has %d timeline entries (%s), want %d", len(again.Timeline), again.Status, len(in.Timeline))
	}
	if out := s2.mustTend("incident", "show", fmt.Sprint(in.ID)); !strings.Contains(out, "roll back on high error rate") || !strings.Contains(out, "alert-fired") {
		t.Fatalf("tend incident show:\n%s", out)
	}
}

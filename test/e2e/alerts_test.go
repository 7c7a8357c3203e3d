package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
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

// freeAddr is a loopback address nobody listens on now.
func freeAddr() (string, error) { return harness.FreeAddr() }

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

func incidentsOf(t *testing.T, s *server) []v1.Incident {
	t.Helper()
	var list []v1.Incident
	out := s.mustTend("incidents", "--all", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("tend incidents -o json: %v\n%s", err, out)
	}
	return list
}

// firstIncident waits up to a minute for an incident and returns the first listed.
func firstIncident(t *testing.T, s *server) v1.Incident {
	t.Helper()
	var in v1.Incident
	waitFor(t, 60*time.Second, "an incident", func() error {
		list := incidentsOf(t, s)
		if len(list) == 0 {
			return fmt.Errorf("none")
		}
		in = list[0]
		return nil
	})
	return in
}

func timelineKinds(in v1.Incident) []string {
	var k []string
	for _, e := range in.Timeline {
		k = append(k, string(e.Kind))
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
  - name: capture profiles
    profile: {cpu: 1s, heap: true, goroutines: true}
  - rollback: {}
  - name: tell the team
    command: {argv: [sh, -c, "echo rolled back $TEND_APP for $TEND_LABEL_ALERTNAME"], expectOutput: rolled back}
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
	var in v1.Incident
	waitFor(t, 90*time.Second, "the incident to resolve", func() error {
		list := incidentsOf(t, s)
		if len(list) == 0 {
			return fmt.Errorf("no incident")
		}
		in = list[len(list)-1]
		if in.Status != v1.IncidentResolved {
			return fmt.Errorf("incident %d is %s: %v", in.ID, in.Status, timelineKinds(in))
		}
		return nil
	})
	if in.Title == "" || in.App != "hello" || in.Revision != "2" || in.Severity != "critical" || len(in.Runs) != 1 || in.Runs[0].Result != "succeeded" {
		t.Fatalf("incident: %+v", in)
	}
	kinds := strings.Join(timelineKinds(in), " ")
	if !strings.HasPrefix(kinds, "opened alert-fired action action action action") || !strings.HasSuffix(kinds, "alert-resolved resolved") {
		t.Fatalf("timeline: %s", kinds)
	}
	profiles, rollback, told := in.Timeline[3], in.Timeline[4], in.Timeline[5]
	if !strings.Contains(profiles.Text, "step 1/3 capture profiles") || !strings.HasSuffix(profiles.Text, ": ok") || len(profiles.Files) != 9 {
		t.Fatalf("the profile step: %q, files %q", profiles.Text, profiles.Files)
	}
	if !strings.Contains(rollback.Text, "roll hello back to its last good revision: ok") || !strings.Contains(rollback.Output, "revision 1 serves hello again") {
		t.Fatalf("the rollback step says %q / %q", rollback.Text, rollback.Output)
	}
	if !strings.Contains(told.Output, "rolled back hello for HighErrorRate") {
		t.Fatalf("the command step says %q / %q", told.Text, told.Output)
	}
	// a captured profile is served by the API and is a pprof file (gzip)
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/v1/incidents/%d/files/%s", s.API, in.ID, profiles.Files[0]), nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	prof, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(prof) < 100 || prof[0] != 0x1f || prof[1] != 0x8b {
		t.Fatalf("GET the captured %s: %s, %d bytes", profiles.Files[0], resp.Status, len(prof))
	}
	waitFor(t, 30*time.Second, "the resolved notification at the webhook", func() error {
		for _, r := range hook.all() {
			if r.Body["status"] == "resolved" && slices.Contains(alertNames(r.Body), "HighErrorRate") {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	var rb v1.Runbooks
	if err := json.Unmarshal([]byte(s.mustTend("runbooks", "-o", "json")), &rb); err != nil || len(rb.Runbooks) != 1 || rb.Runbooks[0].Succeeded != 1 || rb.Runbooks[0].Confidence != 1 {
		t.Fatalf("runbooks: %+v %v", rb, err)
	}
	if out := s.mustTend("runbooks"); !strings.Contains(out, "100%") || !strings.Contains(out, "HighErrorRate") {
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
	var again v1.Incident
	if err := json.Unmarshal([]byte(s2.mustTend("incident", "show", fmt.Sprint(in.ID), "-o", "json")), &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Timeline) != len(in.Timeline) || again.Status != v1.IncidentResolved {
		t.Fatalf("after a restart the incident has %d timeline entries (%s), want %d", len(again.Timeline), again.Status, len(in.Timeline))
	}
	if out := s2.mustTend("incident", "show", fmt.Sprint(in.ID)); !strings.Contains(out, "roll back on high error rate") || !strings.Contains(out, "alert-fired") {
		t.Fatalf("tend incident show:\n%s", out)
	}
}

// alwaysFiring is a rule file with alerts that fire without any traffic, for tests of
// delivery: after is their `for`.
func alwaysFiring(after string, alerts ...[2]string) string {
	var b strings.Builder
	b.WriteString("groups:\n- name: test\n  rules:\n")
	for _, a := range alerts {
		fmt.Fprintf(&b, "  - alert: %s\n    expr: vector(1)\n    for: %s\n    labels: {severity: %s, service: go-app}\n    annotations: {summary: \"%s is on\", description: \"test alert\"}\n", a[0], after, a[1], a[0])
	}
	return b.String()
}

// TestAmtoolSilenceStopsDelivery: a silence created with Debian's amtool through tend's
// API keeps its alert from the receiver while another alert is delivered, and the
// silence survives a restart.
func TestAmtoolSilenceStopsDelivery(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Skip("amtool is not installed: apt-get install prometheus-alertmanager (.ci/run does)")
	}
	hook := newReceiver(t)
	rules := writeFile(t, "rules.yaml", alwaysFiring("8s", [2]string{"Muted", "warning"}, [2]string{"Loud", "warning"}))
	am := writeFile(t, "am.yaml", webhookConfig(hook.URL))
	s := startServer(t, t.TempDir(), "--rules", rules, "--alertmanager-config", am, "--builtin-rules=false")
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	httpConfig := writeFile(t, "http.yaml", "authorization: {credentials: "+strings.TrimSpace(string(token))+"}\n")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(amtool, append([]string{"--alertmanager.url=http://" + s.API + "/alertmanager", "--http.config.file=" + httpConfig}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr // amtool warns there that its version differs from 0.34
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out)
	}
	id := strings.TrimSpace(run("silence", "add", "alertname=Muted", "--comment", "known noise", "--duration", "1h", "--author", "ana"))
	if out := run("silence", "query"); !strings.Contains(out, id) || !strings.Contains(out, `alertname="Muted"`) {
		t.Fatalf("amtool silence query:\n%s", out)
	}
	waitFor(t, 60*time.Second, "Loud at the webhook", func() error {
		for _, r := range hook.all() {
			if slices.Contains(alertNames(r.Body), "Loud") {
				return nil
			}
		}
		return fmt.Errorf("%d payloads", len(hook.all()))
	})
	time.Sleep(5 * time.Second) // two more group_waits: Muted would have been sent by now
	for _, r := range hook.all() {
		if slices.Contains(alertNames(r.Body), "Muted") {
			t.Fatalf("a silenced alert was delivered: %s", r.Raw)
		}
	}
	if out := s.mustTend("alerts"); !strings.Contains(out, "Muted") || !regexp.MustCompile(`Muted\s+warning\s+silenced`).MatchString(out) {
		t.Fatalf("tend alerts does not show Muted as silenced:\n%s", out)
	}
	if out := run("alert", "query", "--silenced"); !strings.Contains(out, "Muted") {
		t.Fatalf("amtool alert query --silenced:\n%s", out)
	}
	// without the token, nothing
	cmd := exec.Command(amtool, "--alertmanager.url=http://"+s.API+"/alertmanager", "silence", "query")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("amtool without the token: %v\n%s", err, out)
	}
	// the silence is kept in the data dir across a restart
	s.stop()
	s = startServer(t, s.DataDir, "--rules", rules, "--alertmanager-config", am, "--builtin-rules=false")
	if out := run("silence", "query"); !strings.Contains(out, id) {
		t.Fatalf("after a restart, amtool silence query:\n%s", out)
	}
}

// TestSeedConfigsDeliverEmailAndSlack loads the seed's alert-rules.yaml as it is and its
// alertmanager-config.yaml with only its addresses pointed at local servers (and
// smtp_require_tls: false: the test's SMTP server has no TLS), then checks that a
// critical alert arrives by email and on Slack, and a warning on Slack only.
func TestSeedConfigsDeliverEmailAndSlack(t *testing.T) {
	seedRules := filepath.Join(helloDir, "..", "..", "internal", "alerting", "testdata", "alert-rules.yaml")
	seedAM, err := os.ReadFile(filepath.Join(helloDir, "..", "..", "internal", "alerting", "testdata", "alertmanager-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slack, hook, smtp := newReceiver(t), newReceiver(t), newSMTPServer(t)
	overlay := strings.NewReplacer(
		"'smtp.gmail.com:587'", "'"+smtp.Addr()+"'",
		"'http://webhook-service:9093/webhook'", "'"+hook.URL+"/webhook'",
		"channel: '#alerts'", "channel: '#alerts'\n    api_url: '"+slack.URL+"/critical'",
		"channel: '#monitoring'", "channel: '#monitoring'\n    api_url: '"+slack.URL+"/warning'",
		"  - api_url: 'https://hooks.slack.com/services/...'\n", "  -\n",
		"smtp_auth_password: 'password'", "smtp_auth_password: 'password'\n  smtp_require_tls: false",
	).Replace(string(seedAM))
	if strings.Contains(overlay, "hooks.slack.com") || strings.Contains(overlay, "gmail") || strings.Contains(overlay, "webhook-service") {
		t.Fatalf("an address of the seed was left pointing outside loopback:\n%s", overlay)
	}
	am := writeFile(t, "alertmanager-config.yaml", overlay)
	rules := writeFile(t, "test-rules.yaml", alwaysFiring("0s", [2]string{"TestCritical", "critical"}, [2]string{"TestWarning", "warning"}))
	s := startServer(t, t.TempDir(), "--rules", seedRules, "--rules", rules, "--alertmanager-config", am, "--builtin-rules=false")
	// the overlay added one line (smtp_require_tls): the warnings name the lines of the file given
	subject := 1 + strings.Count(overlay[:strings.Index(overlay, "subject:")], "\n")
	if log := s.Log(); !strings.Contains(log, fmt.Sprintf("alertmanager-config.yaml:%d: email_configs.subject is not an Alertmanager field", subject)) ||
		!strings.Contains(log, fmt.Sprintf("alertmanager-config.yaml:%d: email_configs.body", subject+1)) {
		t.Fatalf("no warning naming the seed's subject and body lines:\n%s", log)
	}
	waitFor(t, 60*time.Second, "an email and two Slack posts", func() error {
		if len(smtp.Mails()) == 0 || len(slack.all()) < 2 {
			return fmt.Errorf("%d mails, %d slack posts", len(smtp.Mails()), len(slack.all()))
		}
		return nil
	})
	m := smtp.Mails()[0]
	if !strings.Contains(m.Data, "Subject: [CRITICAL] TestCritical") || !strings.Contains(m.Data, "Alert: TestCritical is on") ||
		!strings.Contains(strings.Join(m.To, ","), "oncall@company.com") || !strings.Contains(m.From, "alerts@company.com") {
		t.Fatalf("mail: from %s to %v\n%s", m.From, m.To, m.Data)
	}
	channels := map[string]string{}
	for _, p := range slack.all() {
		channels[p.Path], _ = p.Body["channel"].(string)
	}
	if channels["/critical"] != "#alerts" || channels["/warning"] != "#monitoring" {
		t.Fatalf("slack posts by path: %v", channels)
	}
	for _, p := range slack.all() {
		if p.Path == "/critical" && !strings.Contains(p.Raw, "TestCritical is on") {
			t.Fatalf("critical slack post: %s", p.Raw)
		}
	}
	for _, mm := range smtp.Mails() {
		if strings.Contains(mm.Data, "TestWarning") {
			t.Fatalf("a warning was mailed: %s", mm.Data)
		}
	}
	if len(hook.all()) != 0 {
		t.Fatalf("the default receiver got alerts that a route matches: %s", hook.all()[0].Raw)
	}
}

// TestCrashLoopFiresOneGroupedAlert: instances that keep exiting fire one CrashLooping
// alert for their revision, delivered once, while tend's status shows the growing
// restart backoff.
func TestCrashLoopFiresOneGroupedAlert(t *testing.T) {
	hook := newReceiver(t)
	s := startServer(t, t.TempDir(), "--alertmanager-config", writeFile(t, "am.yaml", webhookConfig(hook.URL)))
	// the deploy itself may pass (instances are ready before they crash) or fail: the alert is what counts
	_, _ = s.tend("deploy", "-f", writeSpec(t, t.TempDir(), strings.Replace(faultySpec(`RELEASE: "1", FAULT_CRASH_AFTER: "1500ms"`), "instances: 3", "instances: 2", 1)))
	var backoff string
	waitFor(t, 30*time.Second, "an instance waiting out a restart backoff", func() error {
		for _, in := range s.status("hello").Running {
			if in.State == "backoff" && in.Restarts >= 1 && strings.Contains(in.Message, "restart in") {
				backoff = in.Message
				return nil
			}
		}
		return fmt.Errorf("instances: %+v", s.status("hello").Running)
	})
	t.Logf("backoff visible in tend status: %s", backoff)
	crashes := func() []received {
		var out []received
		for _, r := range hook.all() {
			if slices.Contains(alertNames(r.Body), "CrashLooping") && r.Body["status"] == "firing" {
				out = append(out, r)
			}
		}
		return out
	}
	waitFor(t, 2*time.Minute, "CrashLooping at the webhook", func() error {
		if len(crashes()) == 0 {
			return fmt.Errorf("payloads: %d", len(hook.all()))
		}
		return nil
	})
	time.Sleep(25 * time.Second) // two group_intervals: a flood would show by now
	got := crashes()
	if len(got) != 1 || len(alertNames(got[0].Body)) != 1 {
		t.Fatalf("want one notification with one CrashLooping alert, got %d notifications: %s", len(got), got[len(got)-1].Raw)
	}
	labels := got[0].Body["commonLabels"].(map[string]any)
	if labels["app"] != "hello" || labels["revision"] != "1" {
		t.Fatalf("CrashLooping labels: %v", labels)
	}
	var loops []string
	for _, in := range incidentsOf(t, s) {
		if in.Labels["alertname"] == "CrashLooping" {
			loops = append(loops, in.Title)
		}
	}
	if len(loops) != 1 || !strings.Contains(loops[0], "hello revision 1 restarted") {
		t.Fatalf("incidents for the crash loop: want one, got %q", loops)
	}
}

// TestRulesInAnAppsSpec: a spec's alerts are checked at deploy (a bad rule file changes
// nothing and names the file and line) and then evaluated with the app's label.
func TestRulesInAnAppsSpec(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.rules.yaml"), []byte("groups:\n- name: hello\n  rules:\n  - alert: Broken\n    expr: rate(x[5m] > 1\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "hello.rules.yaml"), []byte(alwaysFiring("0s", [2]string{"HelloCustom", "warning"})), 0o600)
	bad := strings.Replace(faultySpec(`RELEASE: "1"`), "strategy:", "alerts: [./bad.rules.yaml]\nstrategy:", 1)
	out, err := s.tend("deploy", "-f", writeSpec(t, dir, bad))
	if exitCode(err) != 4 || !strings.Contains(out, "alerts.rules[0]") || !strings.Contains(out, "bad.rules.yaml") {
		t.Fatalf("a spec with a broken rule file: exit %d\n%s", exitCode(err), out)
	}
	if out, err := s.tend("status", "hello"); err == nil {
		t.Fatalf("the refused deploy left an app behind:\n%s", out)
	}
	good := strings.Replace(faultySpec(`RELEASE: "1"`), "strategy:", "alerts: {rules: [./hello.rules.yaml], builtin: false}\nstrategy:", 1)
	s.mustTend("deploy", "-f", writeSpec(t, dir, good))
	waitFor(t, 30*time.Second, "the app's alert", func() error {
		var alerts []api.Alert
		if err := json.Unmarshal([]byte(s.mustTend("alerts", "-o", "json")), &alerts); err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "HelloCustom" && a.Labels["app"] == "hello" {
				return nil
			}
		}
		return fmt.Errorf("alerts: %+v", alerts)
	})
	// one firing ALERTS series, as the table prints it: "{}  1"
	out, err = s.tend("query", `count(ALERTS{alertname="HelloCustom", app="hello", alertstate="firing"})`)
	if f := strings.Fields(out); err != nil || len(f) < 2 || f[len(f)-1] != "1" {
		t.Fatalf("ALERTS series of the app's rule: %v\n%s", err, out)
	}
}

// TestAlertsGoToAnExternalAlertmanager: with --alertmanager-url, alerts go to an
// Alertmanager tend did not start (Debian's, on loopback) and reach its receiver.
func TestAlertsGoToAnExternalAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Skip("Debian's prometheus-alertmanager is not installed: apt-get install prometheus-alertmanager (.ci/run does)")
	}
	hook := newReceiver(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "alertmanager.yml", strings.Replace(webhookConfig(hook.URL), "group_wait: 3s", "group_wait: 1s", 1))
	am := exec.Command(bin, "--config.file="+cfg, "--storage.path="+t.TempDir(), "--web.listen-address="+addr, "--cluster.listen-address=")
	var amLog strings.Builder
	am.Stdout, am.Stderr = &amLog, &amLog
	if err := am.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		am.Process.Kill()
		am.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", amLog.String())
		}
	})
	s := startServer(t, t.TempDir(), "--alertmanager-url", "http://"+addr, "--builtin-rules=false",
		"--rules", writeFile(t, "rules.yaml", alwaysFiring("0s", [2]string{"Elsewhere", "critical"})))
	waitFor(t, 60*time.Second, "the alert at the external Alertmanager's receiver", func() error {
		for _, r := range hook.all() {
			if slices.Contains(alertNames(r.Body), "Elsewhere") {
				return nil
			}
		}
		return fmt.Errorf("%d payloads", len(hook.all()))
	})
	// tend's own Alertmanager API is not there: it says where alerts go
	if out, err := s.tend("alerts"); err == nil || !strings.Contains(out, "external Alertmanager at http://"+addr) {
		t.Fatalf("tend alerts with an external Alertmanager: %v\n%s", err, out)
	}
}

// TestBadAlertingConfigStopsTheServerWithItsLine: each configuration file the server
// takes is checked at start; a bad one ends it at once with exit 4, naming file and line.
func TestBadAlertingConfigStopsTheServerWithItsLine(t *testing.T) {
	rules := writeFile(t, "rules.yaml", "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: rate(x[5m] > 1\n")
	am := writeFile(t, "am.yaml", "route:\n  receiver: a\nreceivers:\n- name: a\n  webhook_configs:\n  - url: http://127.0.0.1:1/\n    colour: red\n")
	inc := writeFile(t, "incidents.yaml", "runbooks:\n- name: x\n  match: {alertname: X}\n  steps:\n  - {rollback: {}, restart: {}}\n")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"rules":        {[]string{"--rules", rules}, rules + ": 5:"},
		"alertmanager": {[]string{"--alertmanager-config", am}, am + ":7:5: field colour not found"},
		"incidents":    {[]string{"--incidents", inc}, inc + `:5:5: runbook "x" steps[0] needs exactly one of`},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			api, _ := freeAddr()
			gw, _ := freeAddr()
			data := t.TempDir()
			if err := harness.Enterable(data); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(ctx, tendBin, append([]string{"server", "--data", data, "--api", api, "--gateway", gw}, tc.args...)...).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the server did not stop within a minute:\n%s", out)
			}
			if exitCode(err) != 4 || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), tc.args[1]) {
				t.Fatalf("exit %d, want 4, %s and %q in:\n%s", exitCode(err), tc.args[1], tc.want, out)
			}
		})
	}
}

// TestIncidentCommandsAndTheKillSwitch drives an incident through the CLI: the kill
// switch keeps its runbook from acting, an escalation page arrives and stops with the
// acknowledgement, and comments and a manual resolution land in its timeline.
func TestIncidentCommandsAndTheKillSwitch(t *testing.T) {
	pager := newReceiver(t)
	rules := writeFile(t, "rules.yaml", alwaysFiring("6s", [2]string{"QueueStuck", "critical"}))
	inc := writeFile(t, "incidents.yaml", fmt.Sprintf(`escalation:
- name: oncall
  match: {severity: critical}
  levels:
  - {after: 0s, webhook: %s/first}
  - {after: 20s, webhook: %s/second}
runbooks:
- name: poke
  match: {alertname: QueueStuck}
  steps:
  - command: {argv: ["true"]}
`, pager.URL, pager.URL))
	s := startServer(t, t.TempDir(), "--rules", rules, "--incidents", inc, "--builtin-rules=false")
	if out := s.mustTend("remediation", "off", "--by", "ana"); !strings.Contains(out, "remediation is off (set by ana") {
		t.Fatalf("tend remediation off:\n%s", out)
	}
	in := firstIncident(t, s)
	id := fmt.Sprint(in.ID)
	waitFor(t, 10*time.Second, "the first page", func() error {
		for _, p := range pager.all() {
			if p.Path == "/first" && p.Body["level"] == float64(1) {
				return nil
			}
		}
		return fmt.Errorf("pages: %d", len(pager.all()))
	})
	if out := s.mustTend("incident", "ack", id, "-m", "looking", "--by", "bob"); !strings.Contains(out, "acknowledged") {
		t.Fatalf("tend incident ack:\n%s", out)
	}
	s.mustTend("incident", "comment", id, "-m", "the consumer is stuck on a poison message", "--by", "bob")
	s.mustTend("incident", "resolve", id, "--by", "bob")
	out := s.mustTend("incident", "show", id)
	for _, want := range []string{`runbook "poke" not run: remediation is off`, "looking (bob)", "poison message (bob)", "resolved by hand (bob)", "paged level 1", "Status        resolved"} {
		if !strings.Contains(out, want) {
			t.Fatalf("tend incident show lacks %q:\n%s", want, out)
		}
	}
	if out, err := s.tend("incident", "ack", id); exitCode(err) != 1 || !strings.Contains(out, "is resolved") {
		t.Fatalf("ack of a resolved incident: exit %d\n%s", exitCode(err), out)
	}
	if out, err := s.tend("incident", "show", "99"); exitCode(err) != 4 || !strings.Contains(out, "no such incident") {
		t.Fatalf("show of a missing incident: exit %d\n%s", exitCode(err), out)
	}
	for _, p := range pager.all() {
		if p.Path == "/second" {
			t.Fatalf("level 2 was paged although level 1 acknowledged: %s", p.Raw)
		}
	}
	var rem v1.Remediation
	if err := json.Unmarshal([]byte(s.mustTend("remediation", "-o", "json")), &rem); err != nil || rem.Enabled || rem.ChangedBy != "ana" {
		t.Fatalf("tend remediation -o json: %+v %v", rem, err)
	}
}

package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// fakeActions records what runbooks asked for.
type fakeActions struct {
	mu        sync.Mutex
	calls     []string
	inRollout bool
}

func (f *fakeActions) did(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeActions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeActions) Rollback(_ context.Context, app string) (int, error) {
	f.did("rollback " + app)
	return 1, nil
}
func (f *fakeActions) Restart(_ context.Context, app string) error {
	f.did("restart " + app)
	return nil
}
func (f *fakeActions) RestartInstance(_ context.Context, app, id string) error {
	f.did("restart " + app + "/" + id)
	return nil
}
func (f *fakeActions) Scale(_ context.Context, app string, to, by int) (int, error) {
	f.did(fmt.Sprintf("scale %s %d %d", app, to, by))
	return 3 + by, nil
}
func (f *fakeActions) InRollout(context.Context, string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inRollout, nil
}
func (f *fakeActions) Instances(string) []Instance { return nil }

type env struct {
	t    *testing.T
	dir  string
	st   *store.Store
	m    *Manager
	act  *fakeActions
	cfg  *Config
	stop func()
}

func newEnv(t *testing.T, config string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), act: &fakeActions{}}
	f := filepath.Join(e.dir, "incidents.yml")
	if err := os.WriteFile(f, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: filepath.Join(e.dir, "data")})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	m, err := Open(context.Background(), Options{Store: st, Config: e.cfg, Actions: e.act, Dir: filepath.Join(e.dir, "incidents")})
	if err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			st.Close()
		})
	}
	e.t.Cleanup(e.stop)
}

// msg is an Alertmanager notification for group key with one alert.
func msg(key, status string, labels map[string]string) Message {
	return Message{Version: "4", GroupKey: key, Status: status, Receiver: "tend-incidents",
		GroupLabels: map[string]string{"alertname": labels["alertname"]}, CommonLabels: labels,
		CommonAnnotations: map[string]string{"summary": labels["alertname"] + " on " + labels["app"]},
		Alerts:            []Alert{{Fingerprint: "f1", Status: status, Labels: labels, StartsAt: time.Now()}}}
}

func (e *env) receive(m Message) {
	e.t.Helper()
	if err := e.m.Receive(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitFor(what string, cond func() error) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) incident(id int) *Incident {
	e.t.Helper()
	in, err := e.m.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func kinds(in *Incident) string {
	var k []string
	for _, e := range in.Timeline {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}

var highErrors = map[string]string{"alertname": "HighErrorRate", "app": "hello", "revision": "2", "severity": "critical"}

const rollbackRunbook = `runbooks:
- name: roll back on high error rate
  match: {alertname: HighErrorRate}
  successWithin: 1m
  steps:
  - rollback: {}
`

func TestAlertGroupBecomesIncidentRunsItsRunbookAndResolves(t *testing.T) {
	e := newEnv(t, rollbackRunbook)
	e.receive(msg("{}:{alertname=\"HighErrorRate\"}", "firing", highErrors))
	e.waitFor("the runbook rolls back", func() error {
		if in := e.incident(1); !strings.Contains(kinds(in), "action action") {
			return fmt.Errorf("timeline: %s", kinds(in))
		}
		return nil
	})
	if got := e.act.Calls(); len(got) != 1 || got[0] != "rollback hello" {
		t.Fatalf("actions = %q, want one rollback of hello", got)
	}
	in := e.incident(1)
	if in.Status != Triggered || in.Severity != "critical" || in.App != "hello" || in.Revision != "2" || in.Title != "HighErrorRate on hello" {
		t.Fatalf("incident: %+v", in)
	}
	// the same group again (a repeat notification) changes nothing and runs nothing
	e.receive(msg("{}:{alertname=\"HighErrorRate\"}", "firing", highErrors))
	e.receive(msg("{}:{alertname=\"HighErrorRate\"}", "resolved", highErrors))
	in = e.incident(1)
	if in.Status != Resolved || in.ResolvedAt == nil || len(in.Runs) != 1 || in.Runs[0].Result != "succeeded" {
		t.Fatalf("after resolution: status %s, runs %+v", in.Status, in.Runs)
	}
	want := "opened alert-fired action action alert-resolved resolved"
	if kinds(in) != want {
		t.Fatalf("timeline = %s, want %s", kinds(in), want)
	}
	stats, err := e.m.Runbooks(context.Background())
	if err != nil || len(stats) != 1 || stats[0].Runs != 1 || stats[0].Succeeded != 1 || stats[0].Confidence != 1 {
		t.Fatalf("runbook stats = %+v, %v", stats, err)
	}
	pm := Postmortem(in)
	for _, s := range []string{"# Postmortem: incident 1: HighErrorRate on hello", "| Severity | critical |", "roll hello back to its last good revision: ok", "revision 1 serves hello again", `runbook "roll back on high error rate"`, "succeeded"} {
		if !strings.Contains(pm, s) {
			t.Fatalf("postmortem lacks %q:\n%s", s, pm)
		}
	}

	// a restart of tend keeps incidents, their timelines and the remediation state
	if _, err := e.m.Comment(context.Background(), 1, "ana", "bad config flag"); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.open()
	in = e.incident(1)
	if kinds(in) != want+" comment" || in.Timeline[len(in.Timeline)-1].By != "ana" {
		t.Fatalf("after restart: %s", kinds(in))
	}
	if r := e.m.Remediation(); len(r.Actions["hello"]) != 1 {
		t.Fatalf("the action taken was forgotten: %+v", r)
	}
	// a new firing of the group opens incident 2
	e.receive(msg("{}:{alertname=\"HighErrorRate\"}", "firing", highErrors))
	if list, _ := e.m.List(context.Background(), false); len(list) != 1 || list[0].ID != 2 {
		t.Fatalf("open incidents = %+v", list)
	}
}

func TestFlappingAlertTakesNoMoreActionsPerHourThanAllowed(t *testing.T) {
	e := newEnv(t, `remediation: {actionsPerHour: 2, cooldown: 1ms}
runbooks:
- name: restart on errors
  match: {alertname: HighErrorRate}
  steps:
  - restart: {}
`)
	for i := 1; i <= 6; i++ {
		e.receive(msg("g", "firing", highErrors))
		e.waitFor("the runbook's step is recorded", func() error {
			if n := strings.Count(kinds(e.incident(i)), "action") + strings.Count(kinds(e.incident(i)), "skipped"); n < 2 {
				return fmt.Errorf("incident %d: %s", i, kinds(e.incident(i)))
			}
			return nil
		})
		time.Sleep(2 * time.Millisecond)
		e.receive(msg("g", "resolved", highErrors))
	}
	if got := e.act.Calls(); len(got) != 2 {
		t.Fatalf("6 flaps took %d actions (%q), want 2", len(got), got)
	}
	last := e.incident(6)
	if s := last.Timeline[len(last.Timeline)-3].Text; !strings.Contains(s, "the limit (remediation.actionsPerHour: 2)") {
		t.Fatalf("the refused step says %q", s)
	}
	stats, _ := e.m.Runbooks(context.Background())
	if stats[0].Succeeded != 2 || stats[0].Skipped != 4 || stats[0].Failed != 0 {
		t.Fatalf("stats = %+v: refused runs are not the runbook's failures", stats[0])
	}
}

func TestKillSwitchDryRunAndRollouts(t *testing.T) {
	e := newEnv(t, `runbooks:
- name: fix
  match: {alertname: HighErrorRate}
  cooldown: 1ms
  steps:
  - restart: {}
  - rollback: {}
- name: look
  match: {alertname: HighLatency}
  dryRun: true
  steps:
  - scale: {by: 2}
`)
	if _, err := e.m.SetRemediation(context.Background(), false, "ana"); err != nil {
		t.Fatal(err)
	}
	e.receive(msg("a", "firing", highErrors))
	if s := kinds(e.incident(1)); s != "opened alert-fired skipped" {
		t.Fatalf("remediation off: timeline %s", s)
	}
	e.m.SetRemediation(context.Background(), true, "ana")
	e.act.inRollout = true
	time.Sleep(2 * time.Millisecond)
	e.receive(msg("b", "firing", highErrors))
	e.waitFor("both steps recorded", func() error {
		if s := kinds(e.incident(2)); s != "opened alert-fired action skipped" {
			return fmt.Errorf("timeline %s", s)
		}
		return nil
	})
	if got := e.act.Calls(); len(got) != 0 {
		t.Fatalf("actions during a rollout: %q", got)
	}
	e.act.inRollout = false
	e.receive(msg("c", "firing", map[string]string{"alertname": "HighLatency", "app": "hello"}))
	e.waitFor("dry run recorded", func() error {
		in := e.incident(3)
		if s := in.Timeline[len(in.Timeline)-1].Text; !strings.Contains(s, "would run scale hello by +2 instances (dry run)") {
			return fmt.Errorf("last entry %q", s)
		}
		return nil
	})
	if got := e.act.Calls(); len(got) != 0 {
		t.Fatalf("a dry run acted: %q", got)
	}
}

func TestEscalationPagesUntilAcknowledgedAndAgainAfterAckTimeout(t *testing.T) {
	var mu sync.Mutex
	var pages []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p Page
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		pages = append(pages, fmt.Sprintf("%s%d#%d", r.URL.Path, p.Level, p.Incident.ID))
		mu.Unlock()
	}))
	defer srv.Close()
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(pages, " ")
	}
	e := newEnv(t, fmt.Sprintf(`escalation:
- name: oncall
  match: {severity: critical}
  ackTimeout: 2s
  levels:
  - {after: 0s, webhook: %s/first}
  - {after: 2s, webhook: %s/second}
`, srv.URL, srv.URL))
	e.receive(msg("a", "firing", highErrors))
	e.waitFor("both levels paged", func() error {
		if got() != "/first1#1 /second2#1" {
			return fmt.Errorf("pages: %s", got())
		}
		return nil
	})
	e.receive(msg("b", "firing", highErrors))
	e.waitFor("the first level paged", func() error {
		if !strings.Contains(got(), "/first1#2") {
			return fmt.Errorf("pages: %s", got())
		}
		return nil
	})
	if _, err := e.m.Ack(context.Background(), 2, "ana", "looking"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Ack(context.Background(), 2, "bob", ""); err == nil {
		t.Fatal("a second ack was taken")
	}
	e.waitFor("the ack times out and the incident pages again", func() error {
		if !strings.Contains(got(), "/first1#2 /first1#2") {
			return fmt.Errorf("pages: %s", got())
		}
		return nil
	})
	// level 2 was never paged while the incident was acknowledged
	if got() != "/first1#1 /second2#1 /first1#2 /first1#2" {
		t.Fatalf("pages = %s", got())
	}
	in := e.incident(2)
	// the first page's "notified" may be written after the ack (the page was in flight)
	k := kinds(in)
	if ack, re := strings.Index(k, "acknowledged"), strings.Index(k, "retriggered"); ack < 0 || re < ack || in.Status != Triggered {
		t.Fatalf("timeline %s, status %s: want acknowledged, then retriggered, and triggered again", k, in.Status)
	}
}

func TestCommandStepChecksExitAndOutput(t *testing.T) {
	ok, _, err := command(context.Background(), 7, "hello", Alert{Labels: map[string]string{"alertname": "X"}},
		CommandStep{Argv: []string{"sh", "-c", `echo "fixed $TEND_APP $TEND_INCIDENT $TEND_LABEL_ALERTNAME"; exit 3`}, ExpectExit: 3, ExpectOutput: "fixed"})
	if err != nil || strings.TrimSpace(ok) != "fixed hello 7 X" {
		t.Fatalf("output %q, err %v", ok, err)
	}
	if _, _, err := command(context.Background(), 7, "hello", Alert{}, CommandStep{Argv: []string{"sh", "-c", "echo no"}, ExpectOutput: "yes"}); err == nil || !strings.Contains(err.Error(), `does not contain "yes"`) {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := command(context.Background(), 7, "hello", Alert{}, CommandStep{Argv: []string{"false"}}); err == nil || !strings.Contains(err.Error(), "exit code 1, expected 0") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := command(ctx, 7, "hello", Alert{}, CommandStep{Argv: []string{"sleep", "5"}}); err == nil {
		t.Fatal("a command past its timeout passed")
	}
}

func TestConfigErrorsNameLineAndField(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":   {"runbooks:\n- name: a\n  match: {alertname: X}\n  steps:\n  - rollback: {}\n    colour: red\n", ":6:5: runbooks[0].steps[0].colour: field colour not found in type incident.Step"},
		"two actions":     {"runbooks:\n- name: a\n  match: {alertname: X}\n  steps:\n  - rollback: {}\n  - {restart: {}, rollback: {}}\n", ":6:5: runbook \"a\" steps[1] needs exactly one of rollback, restart, scale, profile, command, webhook"},
		"no match":        {"runbooks:\n- name: a\n  steps:\n  - rollback: {}\n", ":2:3: runbook \"a\" needs match: {alertname: ...}; a runbook for every alert is too broad to be safe"},
		"bad duration":    {"remediation: {cooldown: soon}\n", ":1:25: remediation.cooldown: cannot unmarshal !!str `soon` into time.Duration"},
		"bad webhook":     {"escalation:\n- name: p\n  levels:\n  - {after: 0s, webhook: pager}\n", ":4:26: escalation \"p\" levels[0].webhook: want an http(s) URL, got \"pager\""},
		"scale both":      {"runbooks:\n- name: a\n  match: {alertname: X}\n  steps:\n  - scale: {to: 3, by: 1}\n", ":5:12: runbook \"a\" steps[0].scale needs to: N (N ≥ 1) or by: ±N"},
		"empty profile":   {"runbooks:\n- name: a\n  match: {alertname: X}\n  steps:\n  - profile: {}\n", ":5:14: runbook \"a\" steps[0].profile captures nothing: set cpu: 10s, heap: true or goroutines: true"},
		"duplicate names": {"runbooks:\n- {name: a, match: {x: y}, steps: [rollback: {}]}\n- {name: a, match: {x: y}, steps: [rollback: {}]}\n", ":3:10: a second runbook named \"a\""},
		"syntax error":    {"remediation: {}\n- rollback\n", ":2:1: not valid YAML: did not find expected key"},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "incidents.yml")
			os.WriteFile(f, []byte(tc.yaml), 0o600)
			_, err := LoadConfig(f)
			if err == nil || err.Error() != f+tc.want {
				t.Fatalf("error:\n got %v\nwant %s", err, f+tc.want)
			}
		})
	}
}

// rollingBack is fakeActions whose rollback starts a rollout, as the controller's does.
type rollingBack struct{ *fakeActions }

func (r rollingBack) Rollback(ctx context.Context, app string) (int, error) {
	r.mu.Lock()
	r.inRollout = true
	r.mu.Unlock()
	return r.fakeActions.Rollback(ctx, app)
}

func TestARunbooksOwnRollbackDoesNotStopItsLaterSteps(t *testing.T) {
	e := newEnv(t, `runbooks:
- name: fix
  match: {alertname: HighErrorRate}
  steps:
  - rollback: {}
  - command: {argv: ["true"]}
`)
	e.m.o.Actions = rollingBack{e.act}
	e.receive(msg("a", "firing", highErrors))
	e.waitFor("both steps", func() error {
		if s := kinds(e.incident(1)); s != "opened alert-fired action action action" {
			return fmt.Errorf("timeline %s", s)
		}
		return nil
	})
	if in := e.incident(1); !strings.HasSuffix(in.Timeline[4].Text, "run true: ok") {
		t.Fatalf("the command after the rollback: %q", in.Timeline[4].Text)
	}
}

func TestAnIncidentWhoseAlertsEndedUnseenIsResolved(t *testing.T) {
	e := newEnv(t, "")
	e.stop()
	var mu sync.Mutex
	firing := true
	st, err := store.Open(context.Background(), store.Options{DataDir: filepath.Join(e.dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := Open(context.Background(), Options{Store: st, Config: e.cfg, Actions: e.act, StaleAfter: 300 * time.Millisecond,
		Firing: func(fp string) (bool, bool) {
			mu.Lock()
			defer mu.Unlock()
			return fp == "f1" && firing, true
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Receive(context.Background(), msg("g", "firing", highErrors)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m.tick(context.Background(), time.Now())
		time.Sleep(100 * time.Millisecond)
	}
	if in, _ := m.Get(context.Background(), 1); in.Status != Triggered {
		t.Fatalf("an incident whose alert fires was resolved: %s", kinds(in))
	}
	mu.Lock()
	firing = false
	mu.Unlock()
	m.tick(context.Background(), time.Now())
	if in, _ := m.Get(context.Background(), 1); in.Status != Triggered {
		t.Fatal("resolved at once, without waiting StaleAfter")
	}
	time.Sleep(350 * time.Millisecond)
	m.tick(context.Background(), time.Now())
	in, _ := m.Get(context.Background(), 1)
	if in.Status != Resolved || !strings.Contains(in.Timeline[len(in.Timeline)-1].Text, "ended while tend was not watching") {
		t.Fatalf("status %s, timeline %s", in.Status, kinds(in))
	}
}

// A command's output goes into the timeline with the app's secrets masked.
func TestACommandsOutputIsMaskedBeforeTheTimeline(t *testing.T) {
	e := newEnv(t, `runbooks:
- name: look
  match: {alertname: HighErrorRate}
  steps:
  - command: {argv: ["sh", "-c", "echo connecting to postgres://u:s3cret@db"]}
`)
	e.m.o.Mask = func(_ context.Context, app, text string) string {
		return strings.ReplaceAll(text, "s3cret", "[secret db-password of "+app+"]")
	}
	e.receive(msg("a", "firing", highErrors))
	e.waitFor("the command", func() error {
		if s := kinds(e.incident(1)); s != "opened alert-fired action action" {
			return fmt.Errorf("timeline %s", s)
		}
		return nil
	})
	if out := e.incident(1).Timeline[3].Output; strings.Contains(out, "s3cret") || !strings.Contains(out, "[secret db-password of hello]") {
		t.Errorf("the command's output in the timeline: %q", out)
	}
}

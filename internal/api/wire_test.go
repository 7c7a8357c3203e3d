package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// A canary paused in its analysis, as the server holds it: what the API makes of it
// is in testdata/golden (the CLI's golden tests serve those files).
func fixture(t *testing.T) (controller.Status, controller.History, []gateway.AppState) {
	t.Helper()
	app, err := spec.Parse("tend.yaml", []byte(`app: hello
build: {main: .}
instances: 3
env: {RELEASE: "2", EMPTY: ""}
health:
  readiness: {http: /ready, interval: 2s}
shutdown: {grace: 10s, drain: 1s}
route: {hosts: [hello.example.com], timeouts: {response: 30s}}
strategy:
  canary:
    steps: [{weight: 0}, {weight: 10}, {analysis: {}}, {pause: {}}]
    analysis: {interval: 5s}
  progressDeadline: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	p := func(f float64) *float64 { return &f }
	rev := store.Revision{App: "hello", Number: 2, Artifact: "sha256:0d5f6c9e2b7a", Path: "artifacts/0d5f6c9e2b7a/hello", Version: "v1.2.0",
		Commit: "a1b2c3d", BuildTime: "2026-12-01T09:00:00Z", ConfigHash: "c0ffee", Spec: *app, CreatedAt: at("2026-12-01T09:00:05Z")}
	measured := rollout.Measurement{At: at("2026-12-01T09:01:10Z"), Result: "pass", Message: "every check passed", Requests: 412, Needed: 50,
		Checks: []rollout.CheckResult{
			{Name: "error-rate", Result: "pass", Value: p(0.002), Stable: p(0.001), Threshold: "< 1%", Class: "Pass", PValue: p(0.41), Reason: "0.2% below 1%"},
			{Name: "latency-p99", Result: "nodata", Threshold: "< 1s", Reason: "no samples yet"},
		}}
	st := controller.Status{App: "hello", Strategy: "canary", Instances: 3, Hosts: []string{"hello.example.com"}, Path: "/",
		Rollout: rollout.State{App: "hello", Strategy: "canary", Stable: 1, From: 1, To: 2, Replicas: 3, Phase: rollout.Paused, Step: 3,
			Weight: 10, NewReplicas: 1, OldReplicas: 3, ManualPause: false, StepStarted: at("2026-12-01T09:01:30Z"), RollbackWindow: 10 * time.Minute,
			Message: "paused for tend promote", StartedAt: at("2026-12-01T09:00:05Z"), ProgressAt: at("2026-12-01T09:01:30Z"), ReadyNew: 1,
			PreviewToken: "p-7f3a9c",
			Verdicts:     []rollout.Verdict{{Step: 2, At: at("2026-12-01T09:01:30Z"), Result: "pass", Message: "3 of 3 measurements passed", Measurements: []rollout.Measurement{measured}}},
			Warm:         []rollout.Warm{{Revision: 1, Until: at("2026-12-01T09:11:30Z")}}},
		Current: &rev, Canary: app.Strategy.Canary,
		Running: []runtime.Instance{
			{ID: "hello-1-abcd", App: "hello", Revision: 1, Addr: "127.0.0.1:40001", AdminAddr: "127.0.0.1:40002", PID: 4242, State: runtime.Ready,
				StartedAt: at("2026-12-01T08:00:00Z"), ReadySince: at("2026-12-01T08:00:01Z"), Limits: "none requested"},
			{ID: "hello-2-efgh", App: "hello", Revision: 2, Addr: "127.0.0.1:40003", State: runtime.Starting, Restarts: 1,
				Message: "started pid 4343"},
		}}
	h := controller.History{Revisions: []store.Revision{rev, {App: "hello", Number: 1, Artifact: "sha256:99aa", Path: "artifacts/99aa/hello", ConfigHash: "beef",
		Spec: spec.App{App: "hello", Instances: 3}, CreatedAt: at("2026-11-30T12:00:00Z")}}, Stable: 1,
		Events: []store.Event{{App: "hello", At: at("2026-12-01T09:00:05Z"), Kind: "rollout.started", Revision: 2, Message: "canary to revision 2"}}}
	routes := []gateway.AppState{{App: "hello", PathPrefix: "/", Splits: []route.Split{{Revision: 1, Weight: 90}, {Revision: 2, Weight: 10}},
		Endpoints: []gateway.EndpointState{{Address: "127.0.0.1:40001", Revision: 1, Instance: "hello-1-abcd", InFlight: 2}, {Address: "127.0.0.1:40003", Revision: 2, Instance: "hello-2-efgh", Ejected: true}}}}
	return st, h, routes
}

// golden compares v, as the API writes it, with testdata/golden/name.
func golden(t *testing.T, name string, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s changed (go test -update rewrites it if the change is meant):\n%s", path, b.String())
	}
	return b.Bytes()
}

var (
	nanoDuration = regexp.MustCompile(`"(grace|drain|interval|timeout|rollbackWindow|progressDeadline|response|pause|duration)": *[0-9]`)
	zeroTime     = regexp.MustCompile(`0001-01-01`)
)

func TestTheAPIWritesItsOwnTypes(t *testing.T) {
	st, h, routes := fixture(t)
	for name, v := range map[string]any{"app.json": wireApp(st), "history.json": wireHistory(h), "routes.json": wireRoutes(routes)} {
		b := golden(t, name, v)
		if m := nanoDuration.Find(b); m != nil {
			t.Errorf("%s: a duration as a number: %s", name, m)
		}
		if zeroTime.Match(b) {
			t.Errorf("%s: an unset time is written as 0001-01-01", name)
		}
	}
	b := golden(t, "app.json", wireApp(st))
	for _, want := range []string{`"rollbackWindow": "10m0s"`, `"grace": "10s"`, `"progressDeadline": "2m0s"`, `"phase": "Paused"`,
		`"strategy": "canary"`, `"state": "starting"`, `"result": "nodata"`, `"weight": 0`, `"EMPTY": ""`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("app.json lacks %s", want)
		}
	}
	for _, absent := range []string{`"pauseUntil"`, `"finishedAt"`, `"manualPause"`} {
		if strings.Contains(string(b), absent) {
			t.Errorf("app.json has %s, which is unset", absent)
		}
	}
	// and a client reads back what the server wrote
	var back v1.App
	if err := json.Unmarshal(b, &back); err != nil || back.Rollout.RollbackWindow != v1.Duration(10*time.Minute) || back.Rollout.Phase != v1.Paused ||
		!back.Rollout.PauseUntil.IsZero() || back.Running[1].State != v1.Starting {
		t.Errorf("read back: %+v %v", back.Rollout, err)
	}
}

// Every phase, strategy and instance state the server has is one the contract documents.
func TestTheEnumsCoverTheServersKinds(t *testing.T) {
	phases := map[rollout.Phase]v1.Phase{rollout.Progressing: v1.Progressing, rollout.Paused: v1.Paused, rollout.Completed: v1.Completed,
		rollout.Reverting: v1.Reverting, rollout.RolledBack: v1.RolledBack, rollout.Aborted: v1.Aborted, rollout.Failed: v1.Failed}
	for in, out := range phases {
		if string(in) != string(out) || in.Terminal() != out.Terminal() {
			t.Errorf("phase %s: the API has %s (terminal %v, want %v)", in, out, out.Terminal(), in.Terminal())
		}
	}
	states := map[runtime.State]v1.InstanceState{runtime.Starting: v1.Starting, runtime.Ready: v1.Ready, runtime.Unready: v1.Unready,
		runtime.Stopping: v1.Stopping, runtime.Backoff: v1.Backoff}
	for in, out := range states {
		if string(in) != string(out) {
			t.Errorf("instance state %s: the API has %s", in, out)
		}
	}
	for _, s := range []spec.Strategy{{Rolling: &spec.Rolling{}}, {BlueGreen: &spec.BlueGreen{}}, {Canary: &spec.Canary{}}} {
		switch v1.Strategy(s.Kind()) {
		case v1.Rolling, v1.BlueGreen, v1.Canary:
		default:
			t.Errorf("strategy %s is not in the API's enum", s.Kind())
		}
	}
}

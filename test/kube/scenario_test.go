package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/tendhq/tend/internal/api/v1"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/tendhq/tend/test/harness"
)

var (
	buildOnce sync.Once
	tendBin   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// tend builds the tend binary of this repository once for the package's tests.
func tend(t *testing.T) (bin, helloDir string) {
	t.Helper()
	_, file, _, _ := goruntime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "tend-kube-"); buildErr == nil {
			tendBin, buildErr = harness.Build(root, binDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return tendBin, filepath.Join(root, "examples", "hello")
}

// tendServer is a `tend server` that a test can restart on the same data dir and addresses.
type tendServer struct {
	*harness.Server
	t       *testing.T
	cfg     harness.Config
	runtime string
}

// startTend runs `tend server` (with the extra flags) on the runtime: local processes, or a test control plane
// (kube-apiserver, kube-controller-manager's Deployment and ReplicaSet controllers, the
// fake kubelet) with a registry for the images tend builds. Instances outlive the server
// on both (on Kubernetes they always do).
func startTend(t *testing.T, runtime string, extra ...string) (*tendServer, *cluster) {
	t.Helper()
	bin, _ := tend(t)
	args := []string{"--keep-instances"}
	var c *cluster
	if runtime == "kubernetes" {
		c = startCluster(t)
		c.startControllerManager(t)
		if code, body, err := c.apply(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "apps"}}, false); err != nil || code >= 300 {
			t.Fatalf("create namespace apps: %d %s %v", code, body, err)
		}
		startKubelet(t, c)
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(reg.Close)
		args = []string{"--runtime", "kubernetes", "--kubeconfig", c.Kubeconfig, "--namespace", "apps",
			"--registry", strings.TrimPrefix(reg.URL, "http://") + "/tend"}
	}
	args = append(args, extra...)
	ts := &tendServer{t: t, cfg: harness.Config{Bin: bin, DataDir: t.TempDir(), Args: args}, runtime: runtime}
	ts.start()
	t.Cleanup(func() {
		ts.Stop()
		if runtime == "process" { // the processes were kept: stop them with a last server
			ts.cfg.Args = nil
			ts.start()
			ts.Stop()
		}
		// pods, and so the gateway that routes to them, outlive a server of the
		// kubernetes runtime; the test's gateway ends with the test
		ts.KillGateway()
	})
	return ts, c
}

func (ts *tendServer) start() {
	s, err := harness.Start(ts.cfg)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.Server, ts.cfg.API, ts.cfg.Gateway = s, s.API, s.Gateway
	ts.t.Cleanup(func() {
		if ts.t.Failed() && ts.Server == s {
			ts.t.Logf("tend server log (last 8 KiB):\n%s", tail(s.Log(), 8192))
		}
	})
}

// restart stops the server and starts another on the same data dir and addresses.
func (ts *tendServer) restart() {
	ts.Stop()
	ts.start()
}

// TestRolloutsGiveTheSameAnswersOnBothRuntimes runs one scenario against local processes
// and against Kubernetes and compares what a user sees after each step: deploy v1
// (rolling), a canary to v2 that completes, a canary to v3 whose pods never become ready
// and is rolled back, a manual rollback to v1, scaling to 3 and a rolling restart (every
// instance replaced) and a restart of tend; each step's outcome (exit code, phase,
// stable revision, ready instances by revision, which revision answers through the
// gateway) and the history at the end must be the same, with no request failing
// under steady load throughout.
func TestRolloutsGiveTheSameAnswersOnBothRuntimes(t *testing.T) {
	seen := map[string][]string{}
	for _, rt := range []string{"process", "kubernetes"} {
		t.Run(rt, func(t *testing.T) {
			s, _ := startTend(t, rt)
			seen[rt] = scenario(t, s)
		})
	}
	p, k := seen["process"], seen["kubernetes"]
	if p == nil || k == nil {
		return // a runtime failed or was skipped; it said why
	}
	t.Logf("what a user sees, on both runtimes:\n  %s", strings.Join(p, "\n  "))
	if !slices.Equal(p, k) {
		t.Errorf("the runtimes answer differently:\nprocess:\n  %s\nkubernetes:\n  %s", strings.Join(p, "\n  "), strings.Join(k, "\n  "))
	}
}

type step struct {
	name string
	args func(dir string) []string
	exit int
	want string // the observation after the step
}

func scenario(t *testing.T, s *tendServer) []string {
	_, hello := tend(t)
	dir := t.TempDir()
	spec := func(file, env, strategy string) func(string) []string {
		return func(dir string) []string {
			body := harness.HelloCanarySpec(hello, 2, env, strategy)
			if strategy == "" {
				body = harness.HelloSpec(hello, 2, "1", harness.Rolling)
			}
			body = strings.Replace(body, "progressDeadline: 30s", "progressDeadline: 20s", 1)
			if strings.Contains(body, "rollbackWindow: 10m") {
				body = strings.Replace(body, "rollbackWindow: 10m", "rollbackWindow: 1m", 1)
			} else {
				body += "  rollbackWindow: 1m\n"
			}
			p := filepath.Join(dir, file)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"deploy", "-f", p}
		}
	}
	canary := "    steps: [{weight: 50}, {analysis: {}}, {pause: 2s}]\n    analysis: {interval: 2s}"
	steps := []step{
		{"deploy v1 (rolling)", spec("v1.yaml", "", ""), 0, "phase=Completed stable=1 ready=1:2 serves=1"},
		{"canary to v2", spec("v2.yaml", `RELEASE: "2"`, canary), 0, "phase=Completed stable=2 ready=1:2,2:2 serves=2"},
		{"canary to v3, never ready", spec("v3.yaml", `RELEASE: "3", FAULT_NEVER_READY: "1"`, canary), 2, "phase=RolledBack stable=2 ready=1:2,2:2 serves=2"},
		{"rollback", func(string) []string { return []string{"rollback", "hello", "--to", "1"} }, 0, "phase=RolledBack stable=1 ready=1:2,2:2 serves=1"},
		{"scale to 3", func(string) []string { return []string{"scale", "hello", "3"} }, 0, "phase=RolledBack stable=1 ready=1:3,2:3 serves=1"},
		{"rolling restart", func(string) []string { return []string{"restart", "hello"} }, 0, "phase=RolledBack stable=1 ready=1:3,2:3 serves=1"},
		{"restart tend", nil, 0, "phase=RolledBack stable=1 ready=1:3,2:3 serves=1"},
	}
	var load *harness.Load
	total := harness.Result{ByRevision: map[string]int64{}}
	var seen []string
	for _, st := range steps {
		before := instancesOf(t, s.Server, 1)
		if st.args == nil {
			merge(&total, load.Finish()) // the gateway stops with the server
			s.restart()
			load = harness.StartLoad(s.Server, 20, 5*time.Minute)
			if after := instancesOf(t, s.Server, 1); !maps.Equal(before, after) {
				t.Errorf("after a restart of tend the instances of revision 1 are %v, were %v", after, before)
			}
		} else {
			out, err := s.Tend(st.args(dir)...)
			if code := harness.ExitCode(err); code != st.exit {
				t.Fatalf("%s: exit %d, want %d:\n%s", st.name, code, st.exit, out)
			}
		}
		got := observe(t, s.Server)
		if got != st.want {
			t.Errorf("%s: %s, want %s", st.name, got, st.want)
		}
		seen = append(seen, st.name+": exit "+fmt.Sprint(st.exit)+", "+got)
		if st.name == "rolling restart" {
			after := instancesOf(t, s.Server, 1)
			for id := range after {
				if before[id] {
					t.Errorf("rolling restart: instance %s of revision 1 is still there (before %v, after %v)", id, before, after)
				}
			}
		}
		if load == nil {
			load = harness.StartLoad(s.Server, 20, 5*time.Minute) // from v1 on: before, there was nothing to serve
		}
	}
	merge(&total, load.Finish())
	r := total
	t.Logf("load: %d ok, %d failed, by revision %v", r.OK, r.Failed, r.ByRevision)
	if r.Failed > 0 {
		t.Errorf("%d of %d requests failed during the rollouts:\n%s", r.Failed, r.OK+r.Failed, strings.Join(r.Failures, "\n"))
	}
	if r.ByRevision["3"] != 0 {
		t.Errorf("%d requests reached the never-ready revision 3", r.ByRevision["3"])
	}
	// logs: the files tend keeps, or the pods' through the API server (pods/log)
	out, err := s.Tend("logs", "hello", "--tail", "1", "-o", "json")
	if code := harness.ExitCode(err); code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, `"fields":{`) ||
		!strings.Contains(out, `"msg":`) || !strings.Contains(out, `"instance":"hello-`) {
		t.Errorf("tend logs --tail 1 on %s: exit %d:\n%s\nwant one JSON line of an instance of hello", s.runtime, code, out)
	}
	// -f: a request's line comes while following
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	follow := s.Command(ctx, "logs", "hello", "-f", "--tail", "0", "--grep", "logs-follow-probe", "-o", "json")
	var followed harness.LockedBuffer
	follow.Stdout, follow.Stderr = &followed, &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !strings.Contains(followed.String(), `"path":"/logs-follow-probe"`); time.Sleep(500 * time.Millisecond) {
		_, _, _, _ = s.Get(http.DefaultClient, "/logs-follow-probe")
	}
	cancel()
	_ = follow.Wait()
	if !strings.Contains(followed.String(), `"path":"/logs-follow-probe"`) {
		t.Errorf("tend logs -f on %s showed no line of the requests made while it followed:\n%s", s.runtime, followed.String())
	}
	var h v1.History
	out, err = s.Tend("history", "hello", "-o", "json")
	if err != nil {
		t.Fatalf("tend history: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err)
	}
	var revs []string
	for _, r := range h.Revisions {
		revs = append(revs, fmt.Sprint(r.Number))
	}
	seen = append(seen, "history: revisions "+strings.Join(revs, ",")+fmt.Sprintf(" stable %d", h.Stable))
	// analyses count requests, which differ from run to run: compare their outcome only
	counts := regexp.MustCompile(`\d+ (requests|canary requests|more|measurements)\b|in \d+s`)
	// a failed rollout quotes what one of its instances says: the id and words differ
	reason := regexp.MustCompile(`\(progressDeadline\): \S+: .*`)
	for _, e := range h.Events {
		msg := counts.ReplaceAllString(e.Message, "# $1")
		if r := reason.FindString(msg); r != "" {
			if !strings.Contains(r, "ready") && !strings.Contains(r, "readiness") {
				t.Errorf("the failed rollout does not quote what its instances say about readiness: %s", e.Message)
			}
			msg = reason.ReplaceAllString(msg, "(progressDeadline): INSTANCE: REASON")
		}
		line := fmt.Sprintf("event %s r%d: %s", e.Kind, e.Revision, msg)
		if len(seen) == 0 || seen[len(seen)-1] != line {
			seen = append(seen, line)
		}
	}
	return seen
}

// merge adds a load's outcome to a total.
func merge(total *harness.Result, r harness.Result) {
	total.OK, total.Failed, total.Failures = total.OK+r.OK, total.Failed+r.Failed, append(total.Failures, r.Failures...)
	for rev, n := range r.ByRevision {
		total.ByRevision[rev] += n
	}
}

// instancesOf lists the ids of the revision's instances.
func instancesOf(t *testing.T, s *harness.Server, rev int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	st, err := s.Status("hello")
	if err != nil {
		return ids // not deployed yet
	}
	for _, in := range st.Running {
		if in.Revision == rev {
			ids[in.ID] = true
		}
	}
	return ids
}

// observe waits until no instance is starting or stopping and says what a user sees.
func observe(t *testing.T, s *harness.Server) string {
	t.Helper()
	var st v1.App
	deadline := time.Now().Add(90 * time.Second)
	for {
		var err error
		st, err = s.Status("hello")
		if err != nil {
			t.Fatal(err)
		}
		// on Kubernetes a scale's pods appear a moment after tend answers: the stable
		// revision must have its count too
		settled, stable := true, 0
		for _, in := range st.Running {
			if in.State != "ready" {
				settled = false
			}
			if in.Revision == st.Rollout.Stable {
				stable++
			}
		}
		settled = settled && stable == st.Rollout.Replicas
		if settled && st.Rollout.Phase != "Progressing" && st.Rollout.Phase != "Reverting" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("instances did not settle within 90s:\n%s", b)
		}
		time.Sleep(300 * time.Millisecond)
	}
	ready := map[int]int{}
	for _, in := range st.Running {
		ready[in.Revision]++
	}
	var parts []string
	for _, rev := range slices.Sorted(maps.Keys(ready)) {
		parts = append(parts, fmt.Sprintf("%d:%d", rev, ready[rev]))
	}
	serves := map[string]bool{}
	for range 10 {
		_, rev, _, err := s.Get(http.DefaultClient, "/")
		if err != nil {
			t.Fatal(err)
		}
		serves[rev] = true
	}
	return fmt.Sprintf("phase=%s stable=%d ready=%s serves=%s", st.Rollout.Phase, st.Rollout.Stable,
		strings.Join(parts, ","), strings.Join(slices.Sorted(maps.Keys(serves)), ","))
}

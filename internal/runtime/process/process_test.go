package process

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

var hello string // examples/hello, built once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tend-process-")
	if err != nil {
		panic(err)
	}
	hello = filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-o", hello, "../../../examples/hello")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build examples/hello:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

type env struct {
	t     *testing.T
	dir   string
	store *store.Store
	pids  sync.Map // every pid seen, killed at cleanup whatever happens
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	st, err := store.Open(context.Background(), store.Options{DataDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	t.Cleanup(func() {
		e.pids.Range(func(k, _ any) bool {
			signalGroup(k.(int), syscall.SIGKILL)
			return true
		})
		st.Close()
	})
	return e
}

func (e *env) supervisor(o Options) *Supervisor {
	e.t.Helper()
	o.DataDir, o.Store = e.dir, e.store
	if o.Backoff.Initial == 0 {
		o.Backoff = Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	}
	s, err := New(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func template(rev int, env map[string]string) runtime.Template {
	return runtime.Template{App: "hello", Revision: rev, Artifact: hello, Env: env,
		Health:   spec.Health{Readiness: &spec.Probe{HTTP: "/ready", Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, FailureThreshold: 2, SuccessThreshold: 1}},
		Shutdown: spec.Shutdown{Grace: 5 * time.Second, Drain: 200 * time.Millisecond}}
}

// waitFor polls until fn returns nil.
func (e *env) waitFor(what string, fn func() error) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s: %v", what, err)
}

func (e *env) readyCount(s *Supervisor, n int) []runtime.Instance {
	e.t.Helper()
	var ready []runtime.Instance
	e.waitFor(fmt.Sprintf("%d ready instances", n), func() error {
		ready = ready[:0]
		for _, in := range s.Instances("hello") {
			e.pids.Store(in.PID, true)
			if in.State == runtime.Ready {
				ready = append(ready, in)
			}
		}
		if len(ready) != n {
			return fmt.Errorf("%d ready: %+v", len(ready), s.Instances("hello"))
		}
		return nil
	})
	return ready
}

func (e *env) registry() []store.Endpoint {
	e.t.Helper()
	eps, err := store.List[store.Endpoint](context.Background(), e.store, store.ServicesPrefix)
	if err != nil {
		e.t.Fatal(err)
	}
	return eps
}

func get(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestInstancesStartRegisterAndAnswer(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	if err := s.Apply(context.Background(), runtime.Set{Template: template(1, map[string]string{"GREETING": "x"}), Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	ready := e.readyCount(s, 3)
	e.waitFor("3 registry entries", func() error {
		if eps := e.registry(); len(eps) != 3 {
			return fmt.Errorf("%d entries", len(eps))
		}
		return nil
	})
	for _, ep := range e.registry() {
		if ep.Name != "hello" || ep.Metadata["revision"] != "1" || ep.Metadata["managedBy"] != "tend" {
			t.Errorf("registry entry %+v", ep)
		}
	}
	for _, in := range ready {
		body, err := get(in.Addr)
		if err != nil || !strings.Contains(body, "revision 1 instance "+in.ID) {
			t.Errorf("instance %s at %s answered %q %v", in.ID, in.Addr, body, err)
		}
		if resp, err := http.Get("http://" + in.AdminAddr + "/metrics"); err != nil || resp.StatusCode != 200 {
			t.Errorf("instance %s: no metrics on its ADMIN_PORT %q: %v", in.ID, in.AdminAddr, err)
		} else {
			resp.Body.Close()
		}
		if !strings.HasPrefix(in.Limits, "none requested") {
			t.Errorf("limits %q for an instance without resources", in.Limits)
		}
	}
	logText, _ := os.ReadFile(logs.Path(e.dir, "hello", ready[0].ID))
	if !strings.Contains(string(logText), `"msg":"serving"`) {
		t.Errorf("instance log does not hold its stdout: %q", logText)
	}
}

func TestKilledInstanceIsRestartedAndReregistered(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, nil), Replicas: 1})
	victim := e.readyCount(s, 1)[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the instance to come back", func() error {
		in := s.Instances("hello")[0]
		e.pids.Store(in.PID, true)
		if in.ID != victim.ID || in.PID == victim.PID || in.State != runtime.Ready || in.Restarts != 1 {
			return fmt.Errorf("%+v", in)
		}
		return nil
	})
	e.waitFor("the registry to point at the new process", func() error {
		eps := e.registry()
		in := s.Instances("hello")[0]
		if len(eps) != 1 || eps[0].HostPort() != in.Addr {
			return fmt.Errorf("registry %+v, instance at %s", eps, in.Addr)
		}
		return nil
	})
}

func TestCrashLoopBacksOff(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, map[string]string{"FAULT_CRASH_AFTER": "100ms"}), Replicas: 1})
	var seen []string
	e.waitFor("three restarts with growing delays", func() error {
		in := s.Instances("hello")[0]
		if in.State == runtime.Backoff && (len(seen) == 0 || seen[len(seen)-1] != in.Message) {
			seen = append(seen, in.Message)
		}
		if in.Restarts < 3 {
			return fmt.Errorf("restarts %d", in.Restarts)
		}
		return nil
	})
	joined := strings.Join(seen, " | ")
	if !strings.Contains(joined, "exited with status 2") || !strings.Contains(joined, "restart in 200ms") {
		t.Errorf("backoff messages %q: want the exit status and a doubled delay", joined)
	}
}

func TestScaleDownDrainsThenStopsGracefully(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	drained := map[string]bool{}
	s := e.supervisor(Options{BeforeStop: func(ctx context.Context, in runtime.Instance) error {
		// the instance must already be out of the registry and still running
		for _, ep := range e.registry() {
			if ep.HostPort() == in.Addr {
				t.Errorf("instance %s still registered when drained", in.ID)
			}
		}
		if _, err := get(in.Addr); err != nil {
			t.Errorf("instance %s not serving during its drain: %v", in.ID, err)
		}
		mu.Lock()
		drained[in.ID] = true
		mu.Unlock()
		return nil
	}})
	defer s.Close(context.Background(), true)
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, nil), Replicas: 3})
	ready := e.readyCount(s, 3)
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, nil), Replicas: 1})
	e.waitFor("2 instances to stop", func() error {
		if n := len(s.Instances("hello")); n != 1 {
			return fmt.Errorf("%d instances", n)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(drained) != 2 {
		t.Errorf("BeforeStop ran for %v, want the 2 stopped instances", drained)
	}
	for _, in := range ready {
		if !drained[in.ID] {
			continue
		}
		if _, err := StartTime(in.PID); err == nil {
			t.Errorf("stopped instance %d still runs", in.PID)
		}
		logText, _ := os.ReadFile(logs.Path(e.dir, "hello", in.ID))
		if !strings.Contains(string(logText), "shutting down") || !strings.Contains(string(logText), `"msg":"stopped"`) {
			t.Errorf("instance %s did not shut down gracefully on SIGTERM: %s", in.ID, logText)
		}
	}
}

func TestNeverReadyIsNeverRegistered(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, map[string]string{"FAULT_NEVER_READY": "1"}), Replicas: 1})
	e.waitFor("the instance to be probed", func() error {
		in := s.Instances("hello")[0]
		e.pids.Store(in.PID, true)
		if !strings.Contains(in.Message, "not ready yet") {
			return fmt.Errorf("%+v", in)
		}
		return nil
	})
	time.Sleep(time.Second)
	if in := s.Instances("hello")[0]; in.State != runtime.Starting || len(e.registry()) != 0 {
		t.Fatalf("never-ready instance: state %s, registry %v", in.State, e.registry())
	}
}

func TestFailedLivenessRestarts(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	tpl := template(1, nil)
	tpl.Health.Liveness = &spec.Probe{HTTP: "/nope", Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, FailureThreshold: 2}
	_ = s.Apply(context.Background(), runtime.Set{Template: tpl, Replicas: 1})
	e.waitFor("a restart for the failing liveness probe", func() error {
		in := s.Instances("hello")[0]
		e.pids.Store(in.PID, true)
		if in.Restarts < 1 {
			return fmt.Errorf("%+v", in)
		}
		return nil
	})
}

func TestCrashedSupervisorIsReplacedAndAdoptsSamePIDs(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, nil), Replicas: 2})
	before := e.readyCount(s, 2)
	if err := s.Close(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	for _, in := range before {
		if syscall.Kill(in.PID, 0) != nil {
			t.Fatalf("instance %d died with its supervisor", in.PID)
		}
	}
	// strays: started for this data dir, but no record accounts for them; one marked
	// as tend marks instances, one as tend did before it stopped putting the path there
	abs, err := filepath.Abs(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	var strays []chan struct{}
	for _, mark := range []string{markerVar + "=" + ownerMark(abs), oldMarkerVar + "=" + abs} {
		stray := exec.Command(hello)
		stray.Env = []string{"PORT=0", "ADMIN_PORT=0", mark}
		if err := stray.Start(); err != nil {
			t.Fatal(err)
		}
		e.pids.Store(stray.Process.Pid, true)
		done := make(chan struct{})
		go func() { _ = stray.Wait(); close(done) }()
		strays = append(strays, done)
	}

	s2 := e.supervisor(Options{})
	after := e.readyCount(s2, 2)
	pids := map[int]bool{}
	for _, in := range after {
		pids[in.PID] = true
	}
	for _, in := range before {
		if !pids[in.PID] {
			t.Errorf("instance %s (pid %d) was not re-adopted: now %+v", in.ID, in.PID, after)
		}
	}
	for i, done := range strays {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("stray process %d was not stopped", i)
		}
	}
	if err := s2.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	for _, in := range before {
		if _, err := StartTime(in.PID); err == nil {
			t.Errorf("instance %d still runs after Close(stop)", in.PID)
		}
	}
	if recs, _ := store.List[record](context.Background(), e.store, store.InstancesPrefix); len(recs) != 0 {
		t.Errorf("%d instance records left after stopping everything", len(recs))
	}
}

func TestReplaceStartsNewBeforeStoppingOld(t *testing.T) {
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	_ = s.Apply(context.Background(), runtime.Set{Template: template(1, nil), Replicas: 1})
	old := e.readyCount(s, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Replace(ctx, "hello", old.ID); err != nil {
		t.Fatal(err)
	}
	now := s.Instances("hello")
	if len(now) != 1 || now[0].ID == old.ID || now[0].State != runtime.Ready {
		t.Fatalf("after replace: %+v", now)
	}
	e.pids.Store(now[0].PID, true)
}

func TestInstancesBeingStoppedAtACrashAreStoppedNotRestarted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.supervisor(Options{})
	_ = s.Apply(ctx, runtime.Set{Template: template(1, nil), Replicas: 2})
	e.readyCount(s, 2)
	if err := s.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	// what a supervisor killed in the middle of a scale-down leaves: both records say
	// stopping; one process has already exited, the other still drains
	recs, err := store.List[record](ctx, e.store, store.InstancesPrefix)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records (%v), want 2", len(recs), err)
	}
	for _, r := range recs {
		r.Stopping = true
		if err := e.store.Put(ctx, store.InstanceKey(r.App, r.ID), r); err != nil {
			t.Fatal(err)
		}
	}
	gone, draining := recs[0], recs[1]
	signalGroup(gone.PID, syscall.SIGKILL)
	e.waitFor("the killed instance to exit", func() error {
		if processMatches(gone.PID, gone.StartTime) {
			return fmt.Errorf("pid %d still runs", gone.PID)
		}
		return nil
	})

	s2 := e.supervisor(Options{})
	now := s2.Instances("hello")
	if len(now) != 1 || now[0].ID != draining.ID || now[0].PID != draining.PID || now[0].State != runtime.Stopping {
		t.Fatalf("after the crash the supervisor has %+v, want only %s (pid %d) and stopping", now, draining.ID, draining.PID)
	}
	e.waitFor("the draining instance to be stopped and every record removed", func() error {
		if n := len(s2.Instances("hello")); n != 0 {
			return fmt.Errorf("%d instances left: %+v", n, s2.Instances("hello"))
		}
		if processMatches(draining.PID, draining.StartTime) {
			return fmt.Errorf("pid %d still runs", draining.PID)
		}
		if recs, _ := store.List[record](ctx, e.store, store.InstancesPrefix); len(recs) != 0 {
			return fmt.Errorf("%d records left", len(recs))
		}
		return nil
	})
	if err := s2.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// An instance whose spec has no liveness probe still gets one from its readiness probe:
// a process that stops answering at all (SIGSTOP) is killed and restarted; one that
// answers "not ready" is not.
func TestAHungInstanceWithoutALivenessProbeIsRestarted(t *testing.T) {
	defaultLiveInterval, defaultLiveTimeout = 200*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { defaultLiveInterval, defaultLiveTimeout = spec.DefaultLivenessInterval, 2*time.Second })
	e := newEnv(t)
	s := e.supervisor(Options{})
	defer s.Close(context.Background(), true)
	tpl := template(1, nil)
	if tpl.Health.Liveness != nil {
		t.Fatal("the test template has a liveness probe")
	}
	_ = s.Apply(context.Background(), runtime.Set{Template: tpl, Replicas: 1})
	victim := e.readyCount(s, 1)[0]
	time.Sleep(time.Second) // five default liveness checks pass on a healthy instance
	if in := s.Instances("hello")[0]; in.Restarts != 0 {
		t.Fatalf("a healthy instance was restarted by the default liveness check: %+v", in)
	}
	if err := syscall.Kill(victim.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the hung instance to be killed and restarted", func() error {
		in := s.Instances("hello")[0]
		e.pids.Store(in.PID, true)
		if in.PID == victim.PID || in.Restarts < 1 || in.State != runtime.Ready {
			return fmt.Errorf("%+v", in)
		}
		return nil
	})
	if err := syscall.Kill(victim.PID, 0); err == nil {
		t.Errorf("the hung process %d still exists", victim.PID)
	}
}

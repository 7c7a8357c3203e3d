package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// fakeRuntime makes every instance ready as soon as it is asked for.
type fakeRuntime struct {
	mu        sync.Mutex
	sets      map[int]runtime.Set
	appliedAt map[int]time.Time // a revision's instances are ready since it was first applied
	subs      []chan string
	forgotten []int // revisions Forget was called for
}

func (f *fakeRuntime) Apply(_ context.Context, s runtime.Set) error {
	f.mu.Lock()
	if f.sets == nil {
		f.sets, f.appliedAt = map[int]runtime.Set{}, map[int]time.Time{}
	}
	f.sets[s.Revision] = s
	if _, ok := f.appliedAt[s.Revision]; !ok {
		f.appliedAt[s.Revision] = time.Now()
	}
	subs := f.subs
	f.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- s.App:
		default:
		}
	}
	return nil
}

func (f *fakeRuntime) Replace(context.Context, string, string) error { return nil }

func (f *fakeRuntime) Instances(app string) []runtime.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Instance
	for rev, s := range f.sets {
		for i := 0; i < s.Replicas; i++ {
			out = append(out, runtime.Instance{ID: fmt.Sprintf("%s-%d-%d", s.App, rev, i), App: s.App, Revision: rev,
				State: runtime.Ready, ReadySince: f.appliedAt[rev]})
		}
	}
	return out
}

func (f *fakeRuntime) Subscribe() (<-chan string, func()) {
	ch := make(chan string, 1)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch, func() {}
}

func (f *fakeRuntime) Close(context.Context, bool) error { return nil }

func (f *fakeRuntime) Forget(_ context.Context, _ string, rev int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, rev)
	delete(f.sets, rev)
	return nil
}

func (f *fakeRuntime) forgottenRevisions() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.forgotten)
}

func (f *fakeRuntime) replicas(rev int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sets[rev].Replicas
}

// fakeBuilder returns an artifact whose digest is the spec's build.binary path: the same
// path gives the same artifact.
type fakeBuilder struct{ builds int }

func (b *fakeBuilder) Build(_ context.Context, r build.Request, out io.Writer) (build.Artifact, error) {
	b.builds++
	fmt.Fprintf(out, "building %s\n", r.Binary)
	if strings.Contains(r.Binary, "broken") {
		return build.Artifact{}, fmt.Errorf("compile %s: syntax error", r.Binary)
	}
	return build.Artifact{Digest: "sha256:" + r.Binary, Path: r.Binary, Version: "v1"}, nil
}

func newController(t *testing.T, with ...func(*Options)) (*Controller, *fakeRuntime, *store.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rt := &fakeRuntime{}
	o := Options{Store: st, Runtime: rt, Builder: &fakeBuilder{}, Tick: 20 * time.Millisecond}
	for _, w := range with {
		w(&o)
	}
	c := New(o)
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	<-c.ready
	return c, rt, st
}

const specYAML = `app: hello
build: {binary: %s}
instances: 2
strategy:
  blueGreen: {autoPromote: true}
`

func deploySpec(t *testing.T, c *Controller, binary string) DeployResult {
	t.Helper()
	res, err := c.Deploy(context.Background(), "/tmp/tend.yaml", []byte(fmt.Sprintf(specYAML, binary)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func waitPhase(t *testing.T, c *Controller, phase rollout.Phase, stable int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s, err := c.Status(context.Background(), "hello")
		if err == nil && s.Rollout.Phase == phase && s.Rollout.Stable == stable {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, _ := c.Status(context.Background(), "hello")
	t.Fatalf("phase %s stable %d (%s), want %s stable %d", s.Rollout.Phase, s.Rollout.Stable, s.Rollout.Message, phase, stable)
}

func TestDeployCreatesRevisionsOnlyForNewArtifactsOrConfig(t *testing.T) {
	c, rt, st := newController(t)
	r1 := deploySpec(t, c, "/bin/a")
	if !r1.Created || r1.Revision.Number != 1 {
		t.Fatalf("first deploy: %+v, want revision 1 created", r1)
	}
	waitPhase(t, c, rollout.Completed, 1)
	again := deploySpec(t, c, "/bin/a")
	if again.Created || !again.Unchanged || again.Revision.Number != 1 {
		t.Fatalf("same artifact again: %+v, want revision 1 unchanged", again)
	}
	r2 := deploySpec(t, c, "/bin/b")
	if !r2.Created || r2.Revision.Number != 2 {
		t.Fatalf("new artifact: %+v, want revision 2", r2)
	}
	waitPhase(t, c, rollout.Completed, 2)
	if rt.replicas(1) != 2 || rt.replicas(2) != 2 {
		t.Fatalf("replicas: rev1 %d rev2 %d, want both 2 (revision 1 warm for rollback)", rt.replicas(1), rt.replicas(2))
	}
	var route route.Route
	if err := st.Get(context.Background(), store.RouteKey("hello"), &route); err != nil {
		t.Fatal(err)
	}
	if len(route.Splits) != 1 || route.Splits[0].Revision != 2 || route.Splits[0].Weight != 100 {
		t.Fatalf("route %+v, want all traffic on revision 2", route)
	}
	back, err := c.Rollback(context.Background(), "hello", 0)
	if err != nil || back != 1 {
		t.Fatalf("rollback: %d %v", back, err)
	}
	waitPhase(t, c, rollout.RolledBack, 1)
}

func TestControllerResumesFromTheStore(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Store: st, Runtime: &fakeRuntime{}, Builder: &fakeBuilder{}, Tick: 20 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	<-c.ready
	deploySpec(t, c, "/bin/a")
	waitPhase(t, c, rollout.Completed, 1)
	cancel()
	<-done
	st.Close()

	st2, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	rt := &fakeRuntime{}
	c2 := New(Options{Store: st2, Runtime: rt, Builder: &fakeBuilder{}, Tick: 20 * time.Millisecond})
	done2 := make(chan struct{})
	go func() { defer close(done2); _ = c2.Run(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	<-c2.ready
	waitPhase(t, c2, rollout.Completed, 1)
	deadline := time.Now().Add(5 * time.Second)
	for rt.replicas(1) != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if rt.replicas(1) != 2 {
		t.Fatalf("after restart the controller asked for %d instances of revision 1, want 2", rt.replicas(1))
	}
}

func TestRejectedSpecsAndFailedBuildsChangeNothing(t *testing.T) {
	c, _, st := newController(t)
	deploySpec(t, c, "/bin/a")
	waitPhase(t, c, rollout.Completed, 1)
	snapshot := func() string {
		kvs, err := st.Records(context.Background(), "/tend/")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, kv := range kvs {
			if strings.HasPrefix(string(kv.Key), store.EventsPrefix) {
				continue
			}
			fmt.Fprintf(&b, "%s=%s\n", kv.Key, kv.Value)
		}
		return b.String()
	}
	before := snapshot()
	bad, err := filepath.Glob("../spec/testdata/*.bad.yaml")
	if err != nil || len(bad) < 25 {
		t.Fatalf("found %d bad specs in ../spec/testdata (%v), want at least 25", len(bad), err)
	}
	for _, f := range bad {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Deploy(context.Background(), f, src, io.Discard)
		var invalid *InvalidSpecError
		if err == nil || !errors.As(err, &invalid) {
			t.Errorf("%s: deploy error %v, want an InvalidSpecError", f, err)
		}
	}
	if _, err := c.Deploy(context.Background(), "/tmp/tend.yaml", []byte(fmt.Sprintf(specYAML, "/bin/broken")), io.Discard); err == nil {
		t.Error("a failed build deployed")
	}
	if after := snapshot(); after != before {
		t.Errorf("store changed after rejected specs and a failed build:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// collectingBuilder records what GC was told to keep.
type collectingBuilder struct {
	fakeBuilder
	mu   sync.Mutex
	keep map[string]bool
}

func (b *collectingBuilder) GC(keep map[string]bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keep = keep
	return nil
}

func TestOldRevisionsAndTheirArtifactsAreCollected(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b := &collectingBuilder{}
	rt := &fakeRuntime{}
	c := New(Options{Store: st, Runtime: rt, Builder: b, Tick: 20 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	<-c.ready
	for i := 1; i <= 13; i++ {
		deploySpec(t, c, fmt.Sprintf("/bin/v%d", i))
		waitPhase(t, c, rollout.Completed, i)
	}
	h, err := c.History(context.Background(), "hello", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Revisions) > keepRevisions+1 {
		t.Fatalf("%d revisions kept, want at most %d plus the warm one", len(h.Revisions), keepRevisions)
	}
	// the runtime is told of each pruned revision, so that it deletes what it keeps of it
	kept := map[int]bool{}
	for _, r := range h.Revisions {
		kept[r.Number] = true
	}
	forgotten := rt.forgottenRevisions()
	for n := 1; n <= 13; n++ {
		if kept[n] == slices.Contains(forgotten, n) {
			t.Errorf("revision %d: kept %v, forgotten by the runtime %v (forgotten: %v)", n, kept[n], !kept[n], forgotten)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.keep["sha256:/bin/v13"] || !b.keep["sha256:/bin/v12"] || b.keep["sha256:/bin/v1"] || len(b.keep) != len(h.Revisions) {
		t.Fatalf("GC kept %v; want exactly the artifacts of the %d recorded revisions", b.keep, len(h.Revisions))
	}
}

// A new revision's instances count for the strategy only after minReady of readiness.
func TestMinReadyHoldsTheStrategyUntilInstancesStayedReady(t *testing.T) {
	c, _, _ := newController(t)
	const bg = `app: hello
build: {binary: %s}
instances: 2
strategy:
  blueGreen: {autoPromote: true, minReady: 600ms}
`
	for i, bin := range []string{"/bin/one", "/bin/two"} {
		deployed := time.Now()
		if _, err := c.Deploy(context.Background(), "/tmp/tend.yaml", []byte(fmt.Sprintf(bg, bin)), io.Discard); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			waitPhase(t, c, rollout.Completed, 1)
			continue
		}
		time.Sleep(300 * time.Millisecond)
		if s, _ := c.Status(context.Background(), "hello"); s.Rollout.Stable != 1 {
			t.Fatalf("revision 2 promoted %s after its deploy, before its instances were ready for minReady (600ms)", time.Since(deployed))
		}
		waitPhase(t, c, rollout.Completed, 2)
		if d := time.Since(deployed); d < 600*time.Millisecond {
			t.Errorf("promoted %s after the deploy, want at least minReady", d)
		}
	}
}

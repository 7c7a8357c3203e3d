package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

// waitReplicas waits until the runtime was asked for want instances of each revision.
func waitReplicas(t *testing.T, rt *fakeRuntime, want map[int]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for rev, n := range want {
			ok = ok && rt.replicas(rev) == n
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			got := map[int]int{}
			for rev := range want {
				got[rev] = rt.replicas(rev)
			}
			t.Fatalf("replicas %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readRoute(t *testing.T, st *store.Store) route.Route {
	t.Helper()
	var rt route.Route
	if err := st.Get(context.Background(), store.RouteKey("hello"), &rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// deployTwoRevisions deploys revision 1 of hello, then revision 2, each to its end.
func deployTwoRevisions(t *testing.T, c *Controller) {
	t.Helper()
	deploySpec(t, c, "/bin/a")
	waitPhase(t, c, rollout.Completed, 1)
	deploySpec(t, c, "/bin/b")
	waitPhase(t, c, rollout.Completed, 2)
}

func TestScaleToZeroStopsEveryInstanceAndTheGatewaySaysSo(t *testing.T) {
	c, rt, st := newController(t)
	ctx := context.Background()
	deployTwoRevisions(t, c)
	waitReplicas(t, rt, map[int]int{1: 2, 2: 2}) // revision 1 warm

	if _, err := c.Scale(ctx, "hello", 0); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rt, map[int]int{1: 0, 2: 0})
	if m := readRoute(t, st).Maintenance; m == nil || !m.ScaledToZero {
		t.Fatalf("route maintenance %+v, want scaled to zero", m)
	}
	s, err := c.Status(ctx, "hello")
	if err != nil || s.Instances != 0 {
		t.Fatalf("status instances %d (%v), want 0", s.Instances, err)
	}

	if _, err := c.Scale(ctx, "hello", 3); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rt, map[int]int{2: 3})
	if m := readRoute(t, st).Maintenance; m != nil {
		t.Fatalf("route maintenance %+v after scaling back, want none", m)
	}
	if _, err := c.Scale(ctx, "hello", -1); err == nil {
		t.Fatal("scale to -1 accepted")
	}
}

func TestScaleToZeroWaitsForTheRolloutToEnd(t *testing.T) {
	c, _, _ := newController(t)
	ctx := context.Background()
	deploySpec(t, c, "/bin/a")
	waitPhase(t, c, rollout.Completed, 1)
	paused := "app: hello\nbuild: {binary: /bin/b}\ninstances: 2\nstrategy:\n  canary: {steps: [{weight: 50}, {pause: {}}]}\n"
	if _, err := c.Deploy(ctx, "/tmp/tend.yaml", []byte(paused), io.Discard); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, rollout.Paused, 1)
	_, err := c.Scale(ctx, "hello", 0)
	if err == nil || !strings.Contains(err.Error(), "tend abort hello") {
		t.Fatalf("scale to zero during a rollout: %v, want a refusal naming tend abort", err)
	}
}

func TestDeleteStopsTheAppAndKeepsItsHistoryUntilPurged(t *testing.T) {
	c, rt, st := newController(t)
	ctx := context.Background()
	deployTwoRevisions(t, c)
	if n := testutil.CollectAndCount(c.metrics.phase); n == 0 {
		t.Fatal("no tend_rollout_phase series before the delete")
	}

	res, err := c.Delete(ctx, "hello", false)
	if err != nil {
		t.Fatal(err)
	}
	for name, series := range map[string]prometheus.Collector{"phase": c.metrics.phase, "weight": c.metrics.weight, "revision": c.metrics.revision} {
		if n := testutil.CollectAndCount(series); n != 0 {
			t.Errorf("%d tend_rollout_%s series of the deleted app: a dashboard would see it still", n, name)
		}
	}
	if res.Stopped != 4 || res.Revisions != 2 || res.Purged {
		t.Fatalf("delete: %+v, want 4 instances stopped and 2 revisions kept", res)
	}
	if n := len(rt.Instances("hello")); n != 0 {
		t.Fatalf("%d instances after delete, want none", n)
	}
	for _, key := range []string{store.RouteKey("hello"), store.AppKey("hello"), store.RolloutKey("hello")} {
		var v any
		if err := st.Get(ctx, key, &v); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after delete: %v, want not found", key, err)
		}
	}
	if apps, _ := c.Apps(ctx); len(apps) != 0 {
		t.Fatalf("apps after delete: %v, want none", apps)
	}
	if _, err := c.Status(ctx, "hello"); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("status after delete: %v, want unknown app", err)
	}
	h, err := c.History(ctx, "hello", 0)
	if err != nil || len(h.Revisions) != 2 {
		t.Fatalf("history after delete: %d revisions (%v), want 2", len(h.Revisions), err)
	}
	if last := h.Events[len(h.Events)-1]; last.Kind != "delete" {
		t.Fatalf("last event %+v, want the delete", last)
	}

	// a deploy brings it back: revision 2's artifact again is revision 2, rolled out afresh
	again := deploySpec(t, c, "/bin/b")
	if again.Created || again.Revision.Number != 2 || again.Unchanged {
		t.Fatalf("deploy after delete: %+v, want revision 2 rolled out again", again)
	}
	waitPhase(t, c, rollout.Completed, 2)
	waitReplicas(t, rt, map[int]int{2: 2})
	if sp := readRoute(t, st).Splits; len(sp) != 1 || sp[0].Revision != 2 {
		t.Fatalf("route after the deploy: %+v, want revision 2", sp)
	}

	if _, err := c.Delete(ctx, "hello", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.History(ctx, "hello", 0); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("history after purge: %v, want unknown app", err)
	}
	if revs, _ := store.List[store.Revision](ctx, st, store.RevisionsPrefix("hello")); len(revs) != 0 {
		t.Fatalf("%d revisions after purge, want none", len(revs))
	}
	if r := deploySpec(t, c, "/bin/b"); r.Revision.Number != 1 || !r.Created {
		t.Fatalf("deploy after purge: %+v, want a new revision 1", r)
	}
	if _, err := c.Delete(ctx, "nothing", false); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("delete of an app never deployed: %v, want unknown app", err)
	}
}

// What a delete cut short by a crash leaves (the revision and running instances, no
// spec) is stopped when the server starts again, and the runtime forgets the revision's
// objects: found by the process runtime's instance records, or, on Kubernetes, which
// keeps none, by the instances the runtime lists.
func TestInstancesOfAnAppDeletedBeforeACrashAreStoppedAtStart(t *testing.T) {
	for _, records := range []bool{true, false} {
		t.Run(fmt.Sprintf("instance records %v", records), func(t *testing.T) { orphansAreStopped(t, records) })
	}
}

func orphansAreStopped(t *testing.T, records bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rev := store.Revision{App: "gone", Number: 1, Artifact: "sha256:/bin/a", Path: "/bin/a"}
	if err := st.Put(ctx, store.RevisionKey("gone", 1), rev); err != nil {
		t.Fatal(err)
	}
	if records {
		if err := st.Put(ctx, store.InstanceKey("gone", "gone-1-a"), map[string]any{"app": "gone", "id": "gone-1-a", "revision": 1}); err != nil {
			t.Fatal(err)
		}
	}
	rt := &fakeRuntime{}
	if err := rt.Apply(ctx, runtime.Set{Template: template(rev), Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	c := New(Options{Store: st, Runtime: rt, Builder: &fakeBuilder{}, Tick: 20 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitReplicas(t, rt, map[int]int{1: 0})
	<-c.ready
	if f := rt.forgottenRevisions(); !slices.Equal(f, []int{1}) {
		t.Errorf("revisions forgotten by the runtime: %v, want [1] (its Deployment would stay)", f)
	}
}

func TestAPurgeAfterAPlainDeleteRemovesWhatItKept(t *testing.T) {
	c, _, _ := newController(t)
	ctx := context.Background()
	deploySpec(t, c, "/bin/a")
	waitPhase(t, c, rollout.Completed, 1)
	if _, err := c.Delete(ctx, "hello", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scale(ctx, "hello", 2); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("scale of a deleted app: %v, want unknown app (and no record written)", err)
	}
	if apps, _ := c.Apps(ctx); len(apps) != 0 {
		t.Fatalf("apps after a scale of a deleted app: %q, want none", apps)
	}
	if res, err := c.Delete(ctx, "hello", true); err != nil || !res.Purged {
		t.Fatalf("purge after a plain delete: %+v %v, want purged", res, err)
	}
	if _, err := c.History(ctx, "hello", 0); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("history after the purge: %v, want unknown app", err)
	}
	if _, err := c.Delete(ctx, "hello", true); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("a second purge: %v, want unknown app", err)
	}
}

// A dry run of a name never deployed says what a deploy would make and leaves nothing:
// no revision, no app, no loop waiting for it.
func TestADryRunOfANewAppLeavesNothingBehind(t *testing.T) {
	c, _, st := newController(t)
	ctx := context.Background()
	src := Source{File: "/tmp/tend.yaml", Text: []byte(fmt.Sprintf(specYAML, "/bin/a")), ShareHosts: true, DryRun: true}
	res, err := c.DeploySource(ctx, src, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || !res.Created || res.Serving != nil || res.Revision.Number != 0 || res.Revision.Artifact == "" {
		t.Fatalf("dry run of a new app: %+v, want a new revision, nothing serving", res)
	}
	c.mu.Lock()
	loops := len(c.apps)
	c.mu.Unlock()
	if loops != 0 {
		t.Errorf("%d app loops after the dry run of a new app, want none", loops)
	}
	if revs, _ := store.List[store.Revision](ctx, st, store.RevisionsPrefix("hello")); len(revs) != 0 {
		t.Errorf("%d revisions recorded by a dry run", len(revs))
	}
	if apps, _ := c.Apps(ctx); len(apps) != 0 {
		t.Errorf("apps after a dry run: %v, want none", apps)
	}

	deploySpec(t, c, "/bin/a")
	waitPhase(t, c, rollout.Completed, 1)
	if res, err := c.DeploySource(ctx, src, io.Discard); err != nil || !res.Unchanged || res.Serving == nil || res.Serving.Number != 1 {
		t.Fatalf("dry run of what serves: %+v %v, want unchanged, revision 1 serving", res, err)
	}
}

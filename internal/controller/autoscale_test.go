package controller

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

// load answers the autoscaler's request-rate query as the gateway's counters would:
// the app's total rate spread evenly over its ready instances.
type load struct {
	rt *fakeRuntime
	mu sync.Mutex
	// rps is the app's total request rate.
	rps float64
}

func (l *load) set(rps float64) {
	l.mu.Lock()
	l.rps = rps
	l.mu.Unlock()
}

func (l *load) Query(_ context.Context, q string, t time.Time) (monitor.Vector, error) {
	if !strings.Contains(q, "tend_gateway_requests_total") {
		return nil, nil
	}
	l.mu.Lock()
	rps := l.rps
	l.mu.Unlock()
	var ready []runtime.Instance
	for _, in := range l.rt.Instances("hello") {
		if in.State == runtime.Ready {
			ready = append(ready, in)
		}
	}
	var v monitor.Vector
	for _, in := range ready {
		v = append(v, monitor.Sample{Labels: map[string]string{"app": "hello", "instance": in.ID}, Value: rps / float64(len(ready)), T: t})
	}
	return v, nil
}

func (l *load) QueryRange(context.Context, string, time.Time, time.Time, time.Duration) (monitor.Matrix, error) {
	return nil, nil
}

const autoscaledYAML = `app: hello
build: {binary: %s}
autoscale:
  min: 1
  max: 6
  targets: {rps: 50}
  behavior:
    scaleUp: {policies: [{pods: 10, period: 1s}]}
    scaleDown: {stabilizationWindow: 0s}
`

func newAutoscaled(t *testing.T) (*Controller, *fakeRuntime, *store.Store, *load) {
	t.Helper()
	l := &load{}
	c, rt, st := newController(t, func(o *Options) {
		o.Metrics, o.AutoscaleInterval = l, 20*time.Millisecond
	})
	l.rt = rt
	return c, rt, st, l
}

func deployYAML(t *testing.T, c *Controller, src string) {
	t.Helper()
	if _, err := c.Deploy(context.Background(), "/tmp/tend.yaml", []byte(src), io.Discard); err != nil {
		t.Fatal(err)
	}
}

// waitInstances waits until the app's desired count is n.
func waitInstances(t *testing.T, c *Controller, n int) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var s Status
	for time.Now().Before(deadline) {
		s, _ = c.Status(context.Background(), "hello")
		if s.Instances == n {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("instances %d, want %d (autoscale %+v)", s.Instances, n, s.Autoscale)
	return s
}

func TestAutoscalerSizesTheAppByItsRequestRate(t *testing.T) {
	c, rt, _, l := newAutoscaled(t)
	ctx := context.Background()
	l.set(20)
	deployYAML(t, c, strings.Replace(autoscaledYAML, "%s", "/bin/a", 1))
	waitPhase(t, c, rollout.Completed, 1)
	waitReplicas(t, rt, map[int]int{1: 1})

	// 250 req/s for a target of 50 per instance: 5 instances, in one step
	l.set(250)
	s := waitInstances(t, c, 5)
	waitReplicas(t, rt, map[int]int{1: 5})
	if a := s.Autoscale; a == nil || a.Min != 1 || a.Max != 6 || a.Last == nil || a.Last.Metric != "rps" {
		t.Fatalf("status autoscale %+v, want min 1, max 6 and a decision by rps", s.Autoscale)
	}
	changes, _, err := c.AutoscaleChanges(ctx, "hello")
	if err != nil || len(changes) != 1 || changes[0].From != 1 || changes[0].To != 5 ||
		!strings.Contains(changes[0].Reason, "rps 250 (target 50) over 1 instance → 5") {
		t.Fatalf("changes %+v (%v), want 1 → 5 by rps", changes, err)
	}
	h, err := c.History(ctx, "hello", 50)
	if err != nil || !hasEvent(h, "autoscale 1 → 5: rps 250") {
		t.Fatalf("history %+v (%v), want the change as an event", h.Events, err)
	}

	// back to 20 req/s: one instance, the scale-down window being 0s here
	l.set(20)
	waitInstances(t, c, 1)
	waitReplicas(t, rt, map[int]int{1: 1})
}

func TestScaleOnAnAutoscaledAppIsAFloorUntilTheNextDeploy(t *testing.T) {
	c, rt, _, l := newAutoscaled(t)
	ctx := context.Background()
	l.set(20)
	deployYAML(t, c, strings.Replace(autoscaledYAML, "%s", "/bin/a", 1))
	waitPhase(t, c, rollout.Completed, 1)
	as, err := c.Scale(ctx, "hello", 4)
	if err != nil || as == nil || as.Max != 6 {
		t.Fatalf("scale: %+v %v, want the app's autoscale spec back", as, err)
	}
	waitReplicas(t, rt, map[int]int{1: 4})
	time.Sleep(200 * time.Millisecond) // ten syncs at 20 req/s, which alone asks for 1
	if s, _ := c.Status(ctx, "hello"); s.Instances != 4 || s.Autoscale.Floor != 4 {
		t.Fatalf("instances %d floor %d after syncs, want 4 and 4", s.Instances, s.Autoscale.Floor)
	}
	// a deploy ends the floor; the count carries over and the autoscaler takes it down
	deployYAML(t, c, strings.Replace(autoscaledYAML, "%s", "/bin/b", 1))
	waitPhase(t, c, rollout.Completed, 2)
	s := waitInstances(t, c, 1)
	if s.Autoscale.Floor != 0 {
		t.Fatalf("floor %d after a deploy, want none", s.Autoscale.Floor)
	}
}

// A canary's size follows the autoscaled count (weight × count, rounded up), and the
// autoscaler sizes the app, never the canary.
func TestACanaryOfAnAutoscaledAppGetsItsShareOfTheCount(t *testing.T) {
	c, rt, _, l := newAutoscaled(t)
	ctx := context.Background()
	l.set(200) // 4 instances at 50 each
	deployYAML(t, c, strings.Replace(autoscaledYAML, "%s", "/bin/a", 1))
	waitPhase(t, c, rollout.Completed, 1)
	waitInstances(t, c, 4)
	waitReplicas(t, rt, map[int]int{1: 4})

	canary := strings.Replace(autoscaledYAML, "%s", "/bin/b", 1) + "strategy:\n  canary: {steps: [{weight: 25}, {pause: {}}]}\n"
	deployYAML(t, c, canary)
	waitPhase(t, c, rollout.Paused, 1)
	waitReplicas(t, rt, map[int]int{1: 4, 2: 1})
	time.Sleep(200 * time.Millisecond) // syncs during the canary: 200 req/s over 5 instances is within 10% of 4 × 50
	if rt.replicas(1) != 4 || rt.replicas(2) != 1 {
		t.Fatalf("during the canary: stable %d, canary %d; want 4 and 1", rt.replicas(1), rt.replicas(2))
	}
	// more load: the app grows, and the canary with it (25% of 6, rounded up, is 2)
	l.set(500)
	waitInstances(t, c, 6)
	waitReplicas(t, rt, map[int]int{1: 6, 2: 2})
	if err := c.Promote(ctx, "hello", true); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, rollout.Completed, 2)
	waitReplicas(t, rt, map[int]int{2: 6})
}

func hasEvent(h History, prefix string) bool {
	for _, e := range h.Events {
		if strings.HasPrefix(e.Message, prefix) {
			return true
		}
	}
	return false
}

func TestACustomTargetThatIsNotPromQLIsRefusedWhereItIsWritten(t *testing.T) {
	c, _, _ := newController(t, func(o *Options) { o.CheckQuery = monitor.CheckQuery })
	src := "app: hello\nbuild: {binary: /bin/a}\nautoscale:\n  max: 3\n  targets:\n    custom: [{query: 'sum(rate(jobs[1m]', target: 5}]\n"
	_, err := c.Deploy(context.Background(), "/tmp/tend.yaml", []byte(src), io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "/tmp/tend.yaml:6:22: autoscale.targets.custom[0].query: not a PromQL query") {
		t.Fatalf("deploy: %v, want the query's position and what is wrong", err)
	}
	if _, err := c.Status(context.Background(), "hello"); err == nil {
		t.Fatal("the app was recorded")
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tendhq/tend/internal/api/v1"
)

// autoscaledSpec is hello sized by its request rate (50 per instance), with the
// HPA's default scale-down window and a canary of 25% waiting for tend promote.
func autoscaledSpec(release string) string {
	return fmt.Sprintf(`app: hello
build: {main: %s}
env: {RELEASE: "%s"}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
shutdown: {grace: 5s, drain: 500ms}
autoscale:
  min: 1
  max: 8
  targets: {rps: 50}
strategy:
  canary: {steps: [{weight: 25}, {pause: {}}]}
  progressDeadline: 30s
`, helloDir, release)
}

// byRevision counts the app's instances that are not stopping, by revision.
func byRevision(st v1.App) map[int]int {
	out := map[int]int{}
	for _, in := range st.Running {
		if in.State != v1.Stopping {
			out[in.Revision]++
		}
	}
	return out
}

// TestAnAutoscaledAppsCanaryRunsItsShare: the autoscaler sizes hello to 4 instances
// for 200 req/s (50 each); a canary at 25% then runs one instance beside the 4, the
// autoscaler's syncs during the canary leave both sizes alone, and the promotion runs
// the new revision at the autoscaled 4. No request fails.
func TestAnAutoscaledAppsCanaryRunsItsShare(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--autoscale-interval", "2s")
	file := writeSpec(t, dir, autoscaledSpec("1"))
	s.mustTend("deploy", "-f", file)
	l := startLoad(s, 200, 3*time.Minute)
	waitFor(t, 90*time.Second, "4 instances for 200 req/s", func() error {
		if st := s.status("hello"); st.Instances != 4 || byRevision(st)[1] != 4 {
			return fmt.Errorf("%d instances, running %v (%+v)", st.Instances, byRevision(st), st.Autoscale)
		}
		return nil
	})

	writeSpec(t, dir, autoscaledSpec("2"))
	if out, err := s.tend("deploy", "-f", file); exitCode(err) != 3 {
		t.Fatalf("deploy of the canary: %v\n%s", err, out) // 3: paused for tend promote
	}
	waitFor(t, 30*time.Second, "the canary at 25%", func() error {
		if st := s.status("hello"); st.Rollout.Phase != v1.Paused || byRevision(st)[2] != 1 {
			return fmt.Errorf("%s, running %v", st.Rollout.Phase, byRevision(st))
		}
		return nil
	})
	var syncs int
	for range 5 { // five syncs of the autoscaler during the canary
		time.Sleep(2 * time.Second)
		st := s.status("hello")
		if got := byRevision(st); got[1] != 4 || got[2] != 1 || st.Instances != 4 {
			t.Fatalf("during the canary: %d instances, running %v; want 4 stable and 1 canary (%+v)", st.Instances, got, st.Autoscale)
		}
		if a := st.Autoscale; a != nil && a.Desired == 4 && len(a.Metrics) == 1 && a.Metrics[0].Name == "rps" {
			syncs++
		}
	}
	if syncs == 0 {
		t.Fatal("tend status never showed the autoscaler's decision by rps during the canary")
	}
	out := s.mustTend("status", "hello")
	if !strings.Contains(out, "Autoscale:") || !strings.Contains(out, "rps ") || !strings.Contains(out, "of target 50 req/s") {
		t.Errorf("tend status does not show the autoscaler:\n%s", out)
	}

	t.Run("dashboard", func(t *testing.T) {
		tab := browser(t)
		step(t, tab, 15*time.Second, "open the dashboard", chromedp.Navigate(strings.TrimSpace(s.mustTend("dashboard"))))
		line := step(t, tab, 20*time.Second, "the autoscaler's line", chromedp.Poll[string](`(() => {
			const a = document.querySelector('section[data-app="hello"] .autoscale');
			return a && a.textContent.includes("rps") ? a.textContent : null;
		})()`, chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
		if !strings.HasPrefix(line, "Autoscale: 4 instances, desired 4 (min 1, max 8)") || !strings.Contains(line, "of 50 req/s") {
			t.Errorf("the dashboard's autoscale line: %q", line)
		}
	})

	s.mustTend("promote", "hello", "--full")
	waitFor(t, 60*time.Second, "revision 2 at 4 instances", func() error {
		if st := s.status("hello"); st.Rollout.Phase != v1.Completed || byRevision(st)[2] != 4 {
			return fmt.Errorf("%s, running %v", st.Rollout.Phase, byRevision(st))
		}
		return nil
	})
	l.finish(t, "200 req/s through the scale up, the canary and its promotion")

	var h v1.AutoscaleHistory
	raw := s.mustTend("autoscale", "hello", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		t.Fatalf("tend autoscale -o json: %v\n%s", err, raw)
	}
	if len(h.Changes) == 0 || h.Changes[len(h.Changes)-1].To != 4 || !strings.HasPrefix(h.Changes[0].Reason, "rps ") {
		t.Fatalf("changes %+v, want the last one to 4, decided by rps", h.Changes)
	}
	for _, c := range h.Changes {
		if c.To < c.From {
			t.Errorf("a scale down under steady load: %+v", c)
		}
	}
	table := s.mustTend("autoscale", "hello")
	if !strings.Contains(table, "TIME") || !strings.Contains(table, "rps") {
		t.Errorf("tend autoscale:\n%s", table)
	}
}

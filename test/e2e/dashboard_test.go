package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dumpDOM loads url in headless Chromium, lets its scripts run, and returns the DOM; the
// test is skipped where chromium is missing.
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	dom, ok := domIfChromium(t, url)
	if !ok {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
	}
	return dom
}

// domIfChromium is dumpDOM for a test with more to check than the page: it reports false
// (and logs why) where chromium is missing.
func domIfChromium(t *testing.T, url string) (string, bool) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("chromium is not installed: the dashboard is not checked (apt-get install chromium; .ci/run installs it)")
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=3000", "--dump-dom", url).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out), true
}

func TestDashboardShowsAppsInstancesAndEvents(t *testing.T) {
	s, _ := deployed(t)
	link := strings.TrimSpace(s.mustTend("dashboard"))
	if !strings.HasPrefix(link, "http://"+s.API+"/#token=") {
		t.Fatalf("tend dashboard printed %q, want a link to the API with the token in the fragment", link)
	}
	dom := dumpDOM(t, link)
	for _, want := range []string{`data-app="hello"`, `class="phase Completed"`, "revision 1 · 100%", "revision 1 is serving with 3 instances"} {
		if !strings.Contains(dom, want) {
			t.Errorf("dashboard does not show %q:\n%s", want, dom)
		}
	}
	for _, in := range s.status("hello").Running {
		if !strings.Contains(dom, `data-instance="`+in.ID+`"`) {
			t.Errorf("dashboard does not list instance %s", in.ID)
		}
	}

	wrong := dumpDOM(t, "http://"+s.API+"/#token=wrong")
	if strings.Contains(wrong, `data-app="hello"`) || !strings.Contains(wrong, `<form id="login">`) || !strings.Contains(wrong, "unauthorized") {
		t.Errorf("with a wrong token the dashboard should show nothing but the token form and why:\n%s", wrong)
	}
}

func TestDashboardShowsIncidentsAndAlerts(t *testing.T) {
	rules := writeFile(t, "rules.yaml", alwaysFiring("0s", [2]string{"DiskAlmostFull", "critical"}))
	s := startServer(t, t.TempDir(), "--rules", rules, "--builtin-rules=false")
	waitFor(t, 30*time.Second, "an incident", func() error {
		if len(incidentsOf(t, s)) == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	dom := dumpDOM(t, strings.TrimSpace(s.mustTend("dashboard")))
	for _, want := range []string{`data-incident="1"`, `class="status-triggered"`, "DiskAlmostFull is on", `data-alert="DiskAlmostFull"`, "1 open"} {
		if !strings.Contains(dom, want) {
			t.Errorf("dashboard does not show %q:\n%s", want, dom)
		}
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tendhq/tend/internal/api/v1"
)

// browser starts headless Chromium driven by chromedp and returns a tab's context; the
// test is skipped where chromium is missing. Everything run on the tab is bounded by the
// test's own timeouts (see step).
func browser(t *testing.T) context.Context {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: the dashboard is not driven (apt-get install chromium; .ci/run installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-quic", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// the first Run starts the browser: without a timeout of its own (one would stop the
	// browser with it), but bounded here all the same
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start within 30s")
	}
	return ctx
}

// step runs one action on the tab within d.
func step[T any](t *testing.T, tab context.Context, d time.Duration, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestDashboardGraphsStepsAndAbortInABrowser drives the dashboard in headless Chromium: a
// canary paused at 50% under load through the gateway, its three graphs with a line for
// each revision, the canary steps with the pause marked, then abort clicked and confirmed,
// and the API says the rollout was aborted.
func TestDashboardGraphsStepsAndAbortInABrowser(t *testing.T) {
	tab := browser(t)
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	steps := "    steps: [{weight: 50}, {pause: {}}]"
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, steps)))
	l := startLoad(s, 40, 2*time.Minute)
	defer func() {
		r := l.Finish()
		t.Logf("load: %d ok, %d failed, by revision %v", r.OK, r.Failed, r.ByRevision)
	}()
	s.mustTend("deploy", "--detach", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "2"`, steps)))
	waitFor(t, 30*time.Second, "the canary paused at 50%", func() error {
		if r := s.status("hello").Rollout; r.Phase != v1.Paused || r.Weight != 50 {
			return fmt.Errorf("rollout %s at %d%%: %s", r.Phase, r.Weight, r.Message)
		}
		return nil
	})

	step(t, tab, 15*time.Second, "open the dashboard", chromedp.Navigate(strings.TrimSpace(s.mustTend("dashboard"))))
	// the graphs read the metrics every 5 s; revision 2's line needs a few scrapes (5 s apart)
	const card = `section[data-app="hello"]`
	counts := step(t, tab, 40*time.Second, "three graphs with a line per revision", chromedp.Poll[[]int](`(() => {
		const graphs = [...document.querySelectorAll('`+card+` svg.graph')].map((g) => [...g.querySelectorAll("path.series")]);
		// two series in each, each a line already (two points at least), for the screenshot
		const lines = graphs.every((paths) => paths.length === 2 && paths.every((p) => p.getAttribute("d").includes("L")));
		return graphs.length === 3 && lines ? graphs.map((paths) => paths.length) : null;
	})()`, chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(35*time.Second)))
	t.Logf("series per graph: %v", counts)
	// the pointer over a graph reads each revision's value at that time
	readout := step(t, tab, 10*time.Second, "hover the request rate graph", chromedp.Poll[string](`(() => {
		const area = document.querySelector('`+card+` svg.graph[data-graph="rate"] rect.hover-area');
		const box = area.getBoundingClientRect();
		area.dispatchEvent(new MouseEvent("mousemove", { clientX: box.left + box.width * 0.97, clientY: box.top + box.height / 2, bubbles: true }));
		const r = area.parentNode.querySelector("text.readout");
		return r.getAttribute("visibility") === "visible" ? r.textContent : null;
	})()`, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(8*time.Second)))
	if !strings.Contains(readout, "revision 1: ") || !strings.Contains(readout, "revision 2: ") || !strings.Contains(readout, " req/s") {
		t.Errorf("the readout over the rate graph says %q, want each revision's req/s", readout)
	}

	shot := step(t, tab, 15*time.Second, "screenshot", chromedp.FullScreenshot(100))
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the dashboard during the canary: %s", path)
	if d := os.Getenv("TEND_E2E_SCREENSHOTS"); d != "" { // kept for a person to look at
		_ = os.WriteFile(filepath.Join(d, "dashboard.png"), shot, 0o644)
	}

	html := step(t, tab, 10*time.Second, "the card", chromedp.OuterHTML(chromedp.CSS(card)))
	for _, want := range []string{`data-graph="rate"`, `data-graph="errors"`, `data-graph="p95"`, "Request rate (req/s)", "5xx share (%)",
		"p95 latency (ms)", `data-revision="1"`, `data-revision="2"`, " s</text>", "now</text>", "Canary steps",
		`class="step done" data-step="0">✓ weight 50%`, `class="step current" data-step="1" aria-current="step">▶ pause until tend promote`,
		`data-action="promote"`, `data-action="pause"`, `data-action="abort"`, "req/s</td>", "%</td>", " ms"} {
		if !strings.Contains(html, want) {
			t.Errorf("the card lacks %q:\n%s", want, html)
		}
	}
	for _, absent := range []string{`data-action="resume"`, `data-action="rollback"`} {
		if strings.Contains(html, absent) {
			t.Errorf("the card offers %s, which does not apply to a running canary", absent)
		}
	}
	header := step(t, tab, 5*time.Second, "the header", chromedp.Text(chromedp.ID("server")))
	// the harness's go build may stamp no version (GOFLAGS=-buildvcs=false): the header then says so
	if !strings.HasPrefix(header, "tend server ") || !strings.Contains(header, "API v1") || strings.Contains(header, "unknown") {
		t.Errorf("the header says %q, want the server's version (or that its build has none) and API version", header)
	}

	// the card lists the slowest traces (the gateway keeps 10% of the load's); one opens
	// as a waterfall with the gateway's span and hello's under it
	step(t, tab, 20*time.Second, "a trace listed on the card", chromedp.Poll[bool](`!!document.querySelector('`+card+` button.trace-link')`,
		chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	step(t, tab, 5*time.Second, "open the trace", chromedp.Click(chromedp.CSS(card+` button.trace-link`)))
	names := step(t, tab, 15*time.Second, "the waterfall", chromedp.Poll[[]string](`(() => {
		const rows = [...document.querySelectorAll('#trace .span-row .span-name')].map((e) => e.textContent);
		return rows.length ? rows : null;
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if len(names) == 0 || !strings.HasPrefix(names[0], "tend-gateway GET hello") {
		t.Errorf("the waterfall's spans: %q, want the gateway's first", names)
	}
	if d := os.Getenv("TEND_E2E_SCREENSHOTS"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "trace.png"), step(t, tab, 15*time.Second, "screenshot of the trace", chromedp.FullScreenshot(100)), 0o644)
	}

	// abort: the page asks first; accept its confirmation
	dialogs := chromedp.Events(tab, page.JavascriptDialogOpening)
	asked := make(chan string, 1)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			asked <- ev.Message
			_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			return
		}
	}()
	step(t, tab, 15*time.Second, "click abort", chromedp.Click(chromedp.CSS(card+` button[data-action="abort"]`)))
	select {
	case msg := <-asked:
		if !strings.Contains(msg, "Abort the rollout of hello to revision 2") {
			t.Errorf("the confirmation asks %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("clicking abort asked for no confirmation")
	}
	answer := step(t, tab, 15*time.Second, "the answer shown", chromedp.Poll[string](
		`document.querySelector('`+card+` .actions .answer')?.textContent`, chromedp.WithPollingTimeout(10*time.Second)))
	if !strings.HasPrefix(answer, "abort: aborted") {
		t.Errorf("the page shows %q after abort, want the API's answer", answer)
	}
	if r := s.status("hello").Rollout; r.Phase != v1.Aborted || r.Stable != 1 {
		t.Fatalf("after abort on the dashboard the rollout is %s (stable %d), want Aborted with revision 1 serving", r.Phase, r.Stable)
	}
	badge := step(t, tab, 20*time.Second, "the badge once aborted", chromedp.Poll[string](
		`document.querySelector('`+card+` h2 .phase.serving')?.textContent`, chromedp.WithPollingTimeout(15*time.Second)))
	if badge != "revision 1 serves (rollout to 2 aborted)" {
		t.Errorf("the badge says %q after the abort", badge)
	}
}

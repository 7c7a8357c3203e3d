package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/tendhq/tend/internal/api/v1"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// canarySpec is hello with 3 instances, the given env and canary block.
func canarySpec(env, canary string) string { return harness.HelloCanarySpec(helloDir, 3, env, canary) }

const analysed = harness.AnalysedCanary

// analysisOf returns `tend analysis hello -o json`.
func analysisOf(t *testing.T, s *server) (runs []v1.Verdict) {
	t.Helper()
	var out struct {
		Runs []v1.Verdict `json:"runs"`
	}
	raw := s.mustTend("analysis", "hello", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("tend analysis -o json: %v\n%s", err, raw)
	}
	return out.Runs
}

// lastCheck finds a check in the last measurement of the last analysis run.
func lastCheck(t *testing.T, runs []v1.Verdict, name string) v1.Check {
	t.Helper()
	if len(runs) == 0 || len(runs[len(runs)-1].Measurements) == 0 {
		t.Fatalf("no analysis measurements: %+v", runs)
	}
	ms := runs[len(runs)-1].Measurements
	for _, c := range ms[len(ms)-1].Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, ms[len(ms)-1])
	return v1.Check{}
}

// deployCanary deploys release 1 plainly, then runs the deploy of the canary spec under
// load at rps and returns the deploy's output, exit code and what the load saw.
func deployCanary(t *testing.T, s *server, rps int, spec string) (string, int, harness.Result) {
	t.Helper()
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, analysed)))
	var l *load
	if rps > 0 {
		l = startLoad(s, rps, 3*time.Minute)
		time.Sleep(2 * time.Second) // stable traffic in the metrics before the canary starts
	}
	out, err := s.tend("deploy", "-f", writeSpec(t, dir, spec))
	var res harness.Result
	if l != nil {
		res = l.Finish()
	}
	t.Logf("deploy: exit %d\n%s", exitCode(err), out)
	return out, exitCode(err), res
}

func TestCanaryWithErrorsIsRolledBackAutomatically(t *testing.T) {
	s := startServer(t, t.TempDir())
	out, code, res := deployCanary(t, s, 200, canarySpec(`RELEASE: "2", FAULT_ERROR_RATE: "0.05"`, analysed))
	if code != 2 || !strings.Contains(out, "error-rate") {
		t.Fatalf("deploy of a canary failing 5%% of requests: exit %d, want 2 (rolled back) with the error-rate check named:\n%s", code, out)
	}
	st := s.status("hello")
	if st.Rollout.Phase != v1.RolledBack || st.Rollout.Stable != 1 {
		t.Fatalf("rollout %s, stable %d; want RolledBack to revision 1", st.Rollout.Phase, st.Rollout.Stable)
	}
	c := lastCheck(t, analysisOf(t, s), "error-rate")
	if c.Result != "fail" || c.Value == nil || *c.Value < 0.01 {
		t.Fatalf("error-rate check %+v, want a failure with a value over the 1%% threshold", c)
	}
	// users saw the canary's faults only: nothing failed on the stable revision, and the
	// overall error share stays near the canary's share of the fault (10% × 5% = 0.5%)
	total := res.OK + res.Failed
	t.Logf("load: %d requests, failed by revision %v", total, res.FailedByRevision)
	if res.FailedByRevision["1"] != 0 || res.FailedByRevision[""] != 0 {
		t.Errorf("failures outside the canary: %v; first: %v", res.FailedByRevision, res.Failures)
	}
	if share := float64(res.Failed) / float64(total); share > 0.02 {
		t.Errorf("%.2f%% of user requests failed, want about 0.5%% (the canary's share of the fault)", 100*share)
	}
	// the dashboard shows the analysis that decided it
	if dom, ok := domIfChromium(t, strings.TrimSpace(s.mustTend("dashboard"))); ok {
		for _, want := range []string{`data-check="error-rate"`, `class="result-fail"`, "Analysis"} {
			if !strings.Contains(dom, want) {
				t.Errorf("dashboard does not show %q:\n%s", want, dom)
			}
		}
	}
}

func TestHealthyCanaryIsPromoted(t *testing.T) {
	s := startServer(t, t.TempDir())
	out, code, res := deployCanary(t, s, 200, canarySpec(`RELEASE: "2"`, analysed))
	if code != 0 || !strings.Contains(out, "hello revision 2 serves") {
		t.Fatalf("deploy of a healthy canary: exit %d, want 0 and revision 2 serving:\n%s", code, out)
	}
	if res.Failed != 0 {
		t.Errorf("%d requests failed during a healthy canary: %v", res.Failed, res.Failures)
	}
	runs := analysisOf(t, s)
	if len(runs) != 2 || runs[0].Result != "pass" || runs[1].Result != "pass" {
		t.Fatalf("analyses %+v, want two passes", runs)
	}
	if c := lastCheck(t, runs, "error-rate"); c.Class != "Pass" || c.PValue == nil {
		t.Errorf("the baseline comparison of error-rate: %+v, want class Pass with a p-value", c)
	}
}

func TestLatencyRegressionIsCaughtByThresholdAndByBaseline(t *testing.T) {
	s := startServer(t, t.TempDir())
	slow := `RELEASE: "2", FAULT_LATENCY: "300ms"`
	// a threshold on p99
	out, code, _ := deployCanary(t, s, 200, canarySpec(slow, `    steps: [{weight: 10}, {analysis: {}}]
    analysis: {interval: 5s, checks: [{name: latency-p99, max: 200ms}]}`))
	if code != 2 || !strings.Contains(out, "latency-p99") || !strings.Contains(out, "above max 200ms") {
		t.Fatalf("latency threshold: exit %d, want 2 with latency-p99 above max 200ms:\n%s", code, out)
	}
	// tend analysis points at a slow canary request, from the gateway's latency exemplars
	var an struct {
		SlowTraces []struct {
			Check, TraceID string
			Seconds        float64
		}
	}
	if err := json.Unmarshal([]byte(s.mustTend("analysis", "hello", "-o", "json")), &an); err != nil || len(an.SlowTraces) == 0 ||
		an.SlowTraces[0].Check != "latency-p99" || an.SlowTraces[0].Seconds < 0.3 {
		t.Fatalf("tend analysis -o json: %v %+v, want a slow trace of the canary (300ms or more) under latency-p99", err, an)
	}
	// the gateway's spans are collected every second, the instance's every five
	waitFor(t, 15*time.Second, "the gateway's span of revision 2 in the slow request's trace", func() error {
		if tr, err := s.tend("trace", an.SlowTraces[0].TraceID, "--no-logs"); err != nil || !strings.Contains(tr, "tend-gateway GET hello") || !strings.Contains(tr, "revision 2") {
			return fmt.Errorf("%v:\n%s", err, tr)
		}
		return nil
	})
	// no threshold that 300 ms would cross: only the comparison with stable can catch it
	l := startLoad(s, 200, 3*time.Minute)
	out, err := s.tend("deploy", "-f", writeSpec(t, t.TempDir(), canarySpec(`RELEASE: "3", FAULT_LATENCY: "300ms"`, `    steps: [{weight: 10}, {analysis: {}}]
    analysis: {interval: 5s, count: 6, checks: [{name: latency-p95, max: 2s, baseline: true}]}`)))
	l.Finish()
	if exitCode(err) != 2 || !strings.Contains(out, "canary higher than stable") {
		t.Fatalf("baseline comparison: exit %d, want 2 with the canary higher than stable:\n%s", exitCode(err), out)
	}
	c := lastCheck(t, analysisOf(t, s), "latency-p95")
	if c.Class != "High" || c.PValue == nil || *c.PValue >= 0.05 || c.Value == nil || *c.Value < 0.25 {
		t.Fatalf("latency-p95 check %+v, want class High, p < 0.05 and a canary p95 over 250ms", c)
	}
}

func TestQuietCanaryWaitsForTrafficAndLoadCompletesIt(t *testing.T) {
	s := startServer(t, t.TempDir())
	quiet := strings.Replace(canarySpec(`RELEASE: "2"`, `    steps: [{weight: 10}, {analysis: {}}]
    analysis: {interval: 2s}`), "progressDeadline: 30s", "progressDeadline: 8s", 1)
	out, code, _ := deployCanary(t, s, 0, quiet)
	if code != 3 || !strings.Contains(out, "not enough traffic") || !strings.Contains(out, "50 more") {
		t.Fatalf("a canary without traffic: exit %d, want 3 (paused, not failed) saying how many requests are missing:\n%s", code, out)
	}
	if st := s.status("hello"); st.Rollout.Phase != v1.Paused || st.Rollout.Stable != 1 {
		t.Fatalf("rollout %s stable %d, want Paused with revision 1 still stable", st.Rollout.Phase, st.Rollout.Stable)
	}
	s.mustTend("abort", "hello")
	// the same quiet app with built-in load: the analysis gets its requests and passes
	loaded := strings.Replace(quiet, "analysis: {interval: 2s}", "analysis: {interval: 2s, load: {rps: 40, path: /}}", 1)
	loaded = strings.Replace(loaded, `RELEASE: "2"`, `RELEASE: "3"`, 1)
	out, err := s.tend("deploy", "-f", writeSpec(t, t.TempDir(), loaded))
	if exitCode(err) != 0 || !strings.Contains(out, "hello revision 3 serves") {
		t.Fatalf("a quiet canary with analysis.load: exit %d, want 0:\n%s", exitCode(err), out)
	}
	runs := analysisOf(t, s)
	if last := runs[len(runs)-1]; last.Result != "pass" || last.Measurements[len(last.Measurements)-1].Requests < 50 {
		t.Fatalf("analysis with load: %+v, want a pass over at least 50 requests", last)
	}
}

func TestPromtoolQueriesTendsPrometheusAPI(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus; .ci/run installs it)")
	}
	s, _ := deployed(t)
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	// promtool 2.43 and later take the token in an HTTP config file; older ones (Debian
	// 12 ships 2.42) only in the URL, which tend accepts as basic auth
	tok := strings.TrimSpace(string(token))
	url := "http://" + s.API + "/prometheus"
	args := []string{"query", "instant", "http://tend:" + tok + "@" + s.API + "/prometheus"}
	if help, _ := exec.Command(promtool, "query", "instant", "--help").CombinedOutput(); strings.Contains(string(help), "http.config.file") {
		cfg := filepath.Join(t.TempDir(), "http.yml")
		if err := os.WriteFile(cfg, []byte("authorization:\n  type: Bearer\n  credentials: "+tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = []string{"query", "instant", "--http.config.file=" + cfg, url}
	}
	var out []byte
	// the instances' first scrape lands within the scrape interval
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		out, err = exec.Command(promtool, append(args, `up{app="hello"}`)...).CombinedOutput()
		if err == nil && strings.Count(string(out), `up{`) == 3 {
			break
		}
	}
	if err != nil || strings.Count(string(out), `up{`) != 3 || !strings.Contains(string(out), `role="stable"`) {
		t.Fatalf("promtool %s 'up{app=\"hello\"}': %v\n%s\nwant one up series per instance, labelled with its role", strings.Join(args, " "), err, out)
	}
	// the API stays authenticated
	out, err = exec.Command(promtool, "query", "instant", url, "up").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("promtool without the token: %v\n%s\nwant a 401", err, out)
	}
}

func TestMirrorCopiesTrafficToTheCanaryWithoutUsersSeeingIt(t *testing.T) {
	s := startServer(t, t.TempDir())
	// the canary fails every request it gets: users must not see it, the mirror must
	out, code, _ := deployCanary(t, s, 0, canarySpec(`RELEASE: "2", FAULT_ERROR_RATE: "1"`, `    steps: [{weight: 0}, {pause: {}}]
    mirror: 50%`))
	if code != 3 {
		t.Fatalf("deploy: exit %d, want 3 (paused at weight 0):\n%s", code, out)
	}
	l := startLoad(s, 50, time.Minute)
	time.Sleep(4 * time.Second)
	res := l.Finish()
	if res.Failed != 0 || res.ByRevision["2"] != 0 {
		t.Fatalf("users saw the canary: %d failed, by revision %v", res.Failed, res.ByRevision)
	}
	var got float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && got == 0; time.Sleep(time.Second) {
		var v []struct {
			Value float64 `json:"value"`
		}
		raw := s.mustTend("query", `sum(tend_gateway_mirrored_requests_total{app="hello",revision="2",code="500"})`, "-o", "json")
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatalf("tend query -o json: %v\n%s", err, raw)
		}
		if len(v) == 1 {
			got = v[0].Value
		}
	}
	// half of about 200 user requests, give or take chance and the last second's scrape
	if got < float64(res.OK)/4 || got > float64(res.OK) {
		t.Fatalf("mirrored requests answered 500 by the canary: %v, want about half of the %d user requests", got, res.OK)
	}
}

func TestBlueGreenPrePromotionAnalysisWithLoad(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	bg := func(env string) string {
		return strings.Replace(canarySpec(env, ""), "  canary:\n\n", `  blueGreen:
    autoPromote: true
    analysis: {interval: 2s, load: {rps: 50, path: /}}
`, 1)
	}
	s.mustTend("deploy", "-f", writeSpec(t, dir, bg(`RELEASE: "1"`)))
	out, err := s.tend("deploy", "-f", writeSpec(t, dir, bg(`RELEASE: "2", FAULT_ERROR_RATE: "0.2"`)))
	if exitCode(err) != 2 || !strings.Contains(out, "pre-promotion analysis failed") {
		t.Fatalf("blue-green of a revision failing 20%% of requests: exit %d, want 2 (never switched):\n%s", exitCode(err), out)
	}
	if st := s.status("hello"); st.Rollout.Stable != 1 {
		t.Fatalf("stable %d after a failed pre-promotion analysis, want 1", st.Rollout.Stable)
	}
	out, err = s.tend("deploy", "-f", writeSpec(t, dir, bg(`RELEASE: "3"`)))
	if exitCode(err) != 0 || !strings.Contains(out, "hello revision 3 serves") {
		t.Fatalf("blue-green of a healthy revision: exit %d, want 0:\n%s", exitCode(err), out)
	}
}

func TestAnalysisQueriesAnExternalPrometheus(t *testing.T) {
	// the "external Prometheus" is this server's own Prometheus-compatible API, reached
	// over HTTP like any other: what analysis reads goes through the remote client
	data := t.TempDir()
	token := "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(filepath.Join(data, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := startServerWith(t, harness.Config{DataDir: data, API: api,
		Args: []string{"--prometheus-url", "http://tend:" + token + "@" + api + "/prometheus"}})
	hs := s.Server
	if strings.Contains(hs.Log(), token) {
		t.Errorf("the server logged the token that --prometheus-url carries")
	}
	out, code, _ := deployCanary(t, s, 200, canarySpec(`RELEASE: "2", FAULT_ERROR_RATE: "0.05"`, analysed))
	if code != 2 || !strings.Contains(out, "error-rate") {
		t.Fatalf("a faulty canary judged through --prometheus-url: exit %d, want 2 with error-rate named:\n%s", code, out)
	}
	if c := lastCheck(t, analysisOf(t, s), "error-rate"); c.Result != "fail" || c.Value == nil || *c.Value < 0.01 {
		t.Fatalf("error-rate check %+v, want a failure over 1%%", c)
	}
}

// TestSlowUploadsDoNotFailAHealthyCanary: nine clients dripping 10-byte bodies over 1.5s
// each, all through the analysis of a healthy canary at 50%, do not roll it back: the
// latency analysis judges is the instance's, not the client's upload.
func TestSlowUploadsDoNotFailAHealthyCanary(t *testing.T) {
	s := startServer(t, t.TempDir())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slow atomic.Int64
	for i := 0; i < 9; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", s.Gateway)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: hello\r\nContent-Length: 10\r\n\r\n")
				for j := 0; j < 10; j++ {
					time.Sleep(150 * time.Millisecond)
					fmt.Fprint(c, "x")
				}
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					resp.Body.Close()
					slow.Add(1)
				}
				c.Close()
			}
		}()
	}
	out, code, res := deployCanary(t, s, 100, canarySpec(`RELEASE: "2"`, `    steps: [{weight: 50}, {analysis: {}}]
    analysis: {interval: 3s, count: 3, checks: [{name: latency-p99, max: 1s}]}`))
	close(stop)
	wg.Wait()
	t.Logf("%d slow uploads answered during the canary", slow.Load())
	if code != 0 || !strings.Contains(out, "hello revision 2 serves") {
		t.Fatalf("a healthy canary under slow uploads: exit %d, want 0 and promoted:\n%s", code, out)
	}
	if slow.Load() < 9 {
		t.Errorf("only %d slow uploads were answered: the poisoning did not happen", slow.Load())
	}
	if res.Failed != 0 {
		t.Errorf("%d normal requests failed: %v", res.Failed, res.Failures)
	}
}

// TestACrashLoopingCanaryIsRolledBack: a canary whose instances crash a couple of
// seconds after they start never moves past its first weight: the rollout fails on its
// restarts, named with the last exit, while it would otherwise wait in a pause.
func TestACrashLoopingCanaryIsRolledBack(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	const steps = `    steps: [{weight: 10}, {pause: 1m}, {weight: 50}, {pause: {}}]`
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, steps)))
	// a second process follows the same rollout with tend rollout status: same end, same exit code
	followed := make(chan string, 1)
	followCode := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if st, err := s.Status("hello"); err == nil && st.Rollout.To == 2 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		out, err := s.tend("rollout", "status", "hello")
		followed <- out
		followCode <- exitCode(err)
	}()
	out, err := s.tend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "2", FAULT_CRASH_AFTER: "2s"`, steps)))
	if exitCode(err) != 2 || !strings.Contains(out, "restarted 3 times") {
		t.Fatalf("deploy of a crash-looping canary: exit %d, want 2 (rolled back) naming its restarts:\n%s", exitCode(err), out)
	}
	if out, code := <-followed, <-followCode; code != 2 || !strings.Contains(out, "restarted 3 times") || !strings.Contains(out, "rev 1→2") {
		t.Errorf("tend rollout status beside the deploy: exit %d, want 2 naming the restarts, with the progress of 1→2:\n%s", code, out)
	}
	if strings.Contains(out, "weight  50%") {
		t.Errorf("the crash-looping canary reached weight 50:\n%s", out)
	}
	if st := s.status("hello"); st.Rollout.Phase != v1.RolledBack || st.Rollout.Stable != 1 {
		t.Errorf("rollout %s, stable %d; want RolledBack to revision 1", st.Rollout.Phase, st.Rollout.Stable)
	}
}

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawRequest sends raw to the gateway on a new connection and returns the status code
// of its answer.
func rawRequest(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, raw) // a large request may be answered before it is all sent
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer from the gateway to %.60q: %v", raw, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// queryValue runs a PromQL query through tend query and returns its single value.
func queryValue(t *testing.T, s *server, q string) string {
	t.Helper()
	out, err := s.tend("query", q)
	f := strings.Fields(out)
	if err != nil || len(f) < 2 {
		t.Fatalf("tend query %s: %v\n%s", q, err, out)
	}
	return f[len(f)-1]
}

// TestHostileClientsAreAnsweredByTheGateway: what a client does wrong is answered by
// the gateway with a 4xx, never counted as an instance's 5xx and never ejects one; an
// instance that does not answer within the route's response timeout gets its client a
// 504.
func TestHostileClientsAreAnsweredByTheGateway(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	limits := "route: {maxBody: 1Mi, timeouts: {response: 700ms}}\n"
	s.mustTend("deploy", "-f", writeSpec(t, dir, specWith("1", rolling)+limits))

	for i := 0; i < 50; i++ {
		code := rawRequest(t, s.Gateway, "POST / HTTP/1.1\r\nHost: hello\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n")
		// the gateway's 400, or the instance's own 405 when it answered first (hello takes GET only)
		if code != http.StatusBadRequest && code != http.StatusMethodNotAllowed {
			t.Fatalf("malformed chunked body %d: %d, want 400 from the gateway (or hello's 405)", i, code)
		}
	}
	two := strings.Repeat("x", 2<<20)
	if code := rawRequest(t, s.Gateway, fmt.Sprintf("POST / HTTP/1.1\r\nHost: hello\r\nContent-Length: %d\r\n\r\n%s", len(two), two)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB against route.maxBody 1Mi: %d, want 413", code)
	}
	if code := rawRequest(t, s.Gateway, "GET / HTTP/1.1\r\nHost: hello\r\nX-Big: "+strings.Repeat("x", 1<<20)+"\r\n\r\n"); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1 MiB of headers: %d, want 431", code)
	}
	if code, _, body, err := s.get(&http.Client{Timeout: 5 * time.Second}, "/"); err != nil || code != 200 {
		t.Fatalf("a normal GET after the hostile ones: %d %v %q", code, err, body)
	}
	// HTTP/2 by prior knowledge, as curl sends it
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "http://"+s.Gateway+"/").CombinedOutput()
		if err != nil || string(out) != "2 200" {
			t.Errorf("curl --http2-prior-knowledge: %v %q, want \"2 200\"", err, out)
		}
	}
	// the metrics the gateway's instances are judged by saw none of it (recorded every second)
	time.Sleep(2 * time.Second)
	if v := queryValue(t, s, `sum(tend_gateway_requests_total{app="hello", code=~"5.."}) or vector(0)`); v != "0" {
		t.Errorf("tend_gateway_requests_total counts %s 5xx for hello after the clients' faults, want 0", v)
	}
	if v := queryValue(t, s, `sum(tend_gateway_ejections_total{app="hello"}) or vector(0)`); v != "0" {
		t.Errorf("%s ejections of hello's instances after the clients' faults, want 0", v)
	}

	// revision 2 answers / after 2s: past the route's 700ms
	slow := strings.Replace(specWith("2", rolling), `env: {RELEASE: "2"}`, `env: {RELEASE: "2", FAULT_LATENCY: "2s"}`, 1)
	s.mustTend("deploy", "-f", writeSpec(t, dir, slow+limits))
	code, _, body, err := s.get(&http.Client{Timeout: 5 * time.Second}, "/")
	if err != nil || code != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer in time") {
		t.Errorf("GET / of an instance answering after 2s, route timeout 700ms: %d %v %q, want 504", code, err, body)
	}
}

// TestMaintenanceAnswers503WhileTheInstancesKeepRunning: tend maintenance on makes the
// gateway answer 503 with the message and Retry-After while the same instances run, a
// deploy keeps it, off ends it.
func TestMaintenanceAnswers503WhileTheInstancesKeepRunning(t *testing.T) {
	s, dir := deployed(t)
	before := pids(s)
	out := s.mustTend("maintenance", "hello", "on", "-m", "Back at 14:00 UTC", "--retry-after", "5m")
	if !strings.Contains(out, "in maintenance") {
		t.Errorf("tend maintenance on says:\n%s", out)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	check := func(when string) {
		t.Helper()
		waitFor(t, 10*time.Second, "the gateway to answer 503 "+when, func() error {
			req, _ := http.NewRequest("GET", "http://"+s.Gateway+"/", nil)
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "300" || !strings.Contains(string(body), "Back at 14:00 UTC") {
				return fmt.Errorf("%d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			return nil
		})
	}
	check("in maintenance")
	if out := s.mustTend("status", "hello"); !strings.Contains(out, "Maintenance:") || !strings.Contains(out, "Back at 14:00 UTC") {
		t.Errorf("tend status hello does not show the maintenance:\n%s", out)
	}
	if after := pids(s); !slices.Equal(after, before) {
		t.Errorf("instances in maintenance have PIDs %v, want the same as before %v", after, before)
	}
	if dom, ok := domIfChromium(t, strings.TrimSpace(s.mustTend("dashboard"))); ok && (!strings.Contains(dom, `class="maintenance"`) || !strings.Contains(dom, "Back at 14:00 UTC")) {
		t.Errorf("the dashboard does not show the maintenance:\n%s", dom)
	}
	s.mustTend("deploy", "-f", writeSpec(t, dir, specWith("2", rolling)))
	check("after a deploy in maintenance")
	if _, err := s.tend("maintenance", "hello", "sideways"); exitCode(err) != 4 {
		t.Errorf("tend maintenance hello sideways: exit %d, want 4", exitCode(err))
	}
	s.mustTend("maintenance", "hello", "off")
	waitFor(t, 10*time.Second, "the instances to answer again", func() error {
		code, rev, _, err := s.get(client, "/")
		if err != nil || code != 200 || rev != "2" {
			return fmt.Errorf("%d revision %q %v", code, rev, err)
		}
		return nil
	})
}

// TestPreviewIsByInvitation: a plain client's X-Tend-Preview: 1 reaches only the stable
// revision of a paused canary; the rollout's token (from tend status -o json) reaches
// the canary; instances never see the header.
func TestPreviewIsByInvitation(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	const steps = `    steps: [{weight: 0}, {pause: {}}]`
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, steps)))
	if out, err := s.tend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "2"`, steps))); exitCode(err) != 3 {
		t.Fatalf("canary deploy: exit %d, want 3 (paused at weight 0):\n%s", exitCode(err), out)
	}
	token := s.status("hello").Rollout.PreviewToken
	if len(token) < 32 {
		t.Fatalf("preview token %q, want a long random one", token)
	}
	if out := s.mustTend("status", "hello"); !strings.Contains(out, "X-Tend-Preview: "+token) {
		t.Errorf("tend status does not show the preview header:\n%s", out)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(value string) (string, string) {
		req, _ := http.NewRequest("GET", "http://"+s.Gateway+"/", nil)
		req.Header.Set("X-Tend-Preview", value)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Revision"), resp.Header.Get("X-Seen-Preview")
	}
	for i := 0; i < 50; i++ {
		if rev, seen := get("1"); rev != "1" || seen != "" {
			t.Fatalf("X-Tend-Preview: 1 reached revision %q (the instance saw %q), want revision 1 and no header", rev, seen)
		}
	}
	for i := 0; i < 20; i++ {
		if rev, seen := get(token); rev != "2" || seen != "" {
			t.Fatalf("the rollout's token reached revision %q (the instance saw %q), want revision 2 and no header", rev, seen)
		}
	}
}

// TestAHungInstanceIsTakenOutAndRestarted: one of three instances is SIGSTOPped under
// load, with a spec that has no liveness probe: it leaves the rotation within its
// readiness period, the default liveness check restarts it, and no request waits longer
// than the route's response timeout (those sent to it before it left get 504).
func TestAHungInstanceIsTakenOutAndRestarted(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, `    steps: [{weight: 10}]`)+"route: {timeouts: {response: 2s}}\n"))
	victim := s.status("hello").Running[0]
	l := startLoad(s, 100, 2*time.Minute)
	time.Sleep(time.Second)
	if err := syscall.Kill(victim.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(victim.PID, syscall.SIGCONT)
	stopped := time.Now()
	waitFor(t, 60*time.Second, "the hung instance to be restarted", func() error {
		for _, in := range s.status("hello").Running {
			if in.ID == victim.ID {
				if in.PID == victim.PID || in.Restarts < 1 || in.State != "ready" {
					return fmt.Errorf("%s: pid %d, %d restarts, %s (%s)", in.ID, in.PID, in.Restarts, in.State, in.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("instance %s is gone", victim.ID)
	})
	t.Logf("restarted %s after the SIGSTOP", time.Since(stopped).Round(time.Second))
	time.Sleep(time.Second)
	r := l.Finish()
	t.Logf("load: %d ok, %d failed; slowest success %s; failures %v", r.OK, r.Failed, r.Percentile(1), r.Failures)
	if max := r.Percentile(1); max > 2500*time.Millisecond {
		t.Errorf("a request took %s, want none longer than the 2s response timeout", max)
	}
	for _, f := range r.Failures {
		if !strings.Contains(f, "code 504") {
			t.Errorf("a failure other than the response timeout's 504: %s", f)
		}
	}
	if r.Failed > 100 {
		t.Errorf("%d requests failed: the hung instance stayed in rotation too long", r.Failed)
	}
}

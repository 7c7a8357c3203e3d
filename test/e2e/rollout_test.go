package e2e

import (
	"encoding/json"
	"github.com/tendhq/tend/internal/api/v1"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

func specWith(release, strategy string) string {
	return harness.HelloSpec(helloDir, 3, release, strategy)
}

const rolling = harness.Rolling

var instanceRE = regexp.MustCompile(`instance (\S+)`)

// deployed starts a server and deploys revision 1 of hello with 3 instances.
func deployed(t *testing.T) (*server, string) {
	t.Helper()
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	spec := writeSpec(t, dir, specWith("1", rolling))
	out := s.mustTend("deploy", "-f", spec)
	if !strings.Contains(out, "hello revision 1 serves") {
		t.Fatalf("deploy output does not say revision 1 serves:\n%s", out)
	}
	return s, dir
}

func TestThreeInstancesServeThroughTheGateway(t *testing.T) {
	s, _ := deployed(t)
	seen := map[string]bool{}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 60 && len(seen) < 3; i++ {
		code, rev, body, err := s.get(client, "/")
		if err != nil || code != 200 || rev != "1" {
			t.Fatalf("GET /: %d rev %q %v %q", code, rev, err, body)
		}
		if m := instanceRE.FindStringSubmatch(body); m != nil {
			seen[m[1]] = true
		}
	}
	if len(seen) != 3 {
		t.Fatalf("answers came from %d instances (%v), want 3", len(seen), seen)
	}
	st := s.status("hello")
	if st.Rollout.Stable != 1 || len(st.Running) != 3 {
		t.Fatalf("status: stable %d, %d instances running, want 1 and 3", st.Rollout.Stable, len(st.Running))
	}
	var routes []v1.Route
	out := s.mustTend("routes", "-o", "json")
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("routes -o json: %v\n%s", err, out)
	}
	if len(routes) != 1 || len(routes[0].Endpoints) != 3 || len(routes[0].Splits) != 1 || routes[0].Splits[0].Weight != 100 {
		t.Fatalf("routes: %+v, want hello with 3 endpoints and all traffic on revision 1", routes)
	}
	logs := s.mustTend("logs", "hello", "--tail", "3", "--grep", `"msg":"request"`)
	if strings.Count(logs, "\n") != 3 || strings.Count(logs, "  request ") != 3 {
		t.Errorf("tend logs --tail 3 --grep should show the last 3 access-log lines in all, as TIME INSTANCE request key=value...:\n%s", logs)
	}
	var line struct {
		Instance string
		Revision int
		Fields   struct{ Msg string }
	}
	if out := s.mustTend("logs", "hello", "--tail", "1", "--grep", `"msg":"request"`, "-o", "json"); json.Unmarshal([]byte(out), &line) != nil ||
		line.Revision != 1 || line.Fields.Msg != "request" || !strings.HasPrefix(line.Instance, "hello-1-") {
		t.Errorf("tend logs -o json should print the line as JSON with its revision and fields:\n%s", out)
	}
}

// holdLoad keeps the load on for at least min after start, then checks it.
func holdLoad(t *testing.T, l *load, start time.Time, min time.Duration, what string) map[string]int64 {
	t.Helper()
	if d := min - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	return l.finish(t, what)
}

func TestZeroDowntimeRollouts(t *testing.T) {
	s, dir := deployed(t)
	const rps, minLoad = 200, 20 * time.Second

	t.Run("rolling", func(t *testing.T) {
		start := time.Now()
		l := startLoad(s, rps, 2*time.Minute)
		spec := writeSpec(t, dir, specWith("2", rolling))
		s.mustTend("deploy", "-f", spec)
		revs := holdLoad(t, l, start, minLoad, "rolling 1→2")
		if revs["1"] == 0 || revs["2"] == 0 {
			t.Errorf("responses did not switch from revision 1 to 2: %v", revs)
		}
	})

	t.Run("blue-green", func(t *testing.T) {
		start := time.Now()
		l := startLoad(s, rps, 2*time.Minute)
		spec := writeSpec(t, dir, specWith("3", `  blueGreen: {autoPromote: false}`))
		out, err := s.tend("deploy", "-f", spec)
		if exitCode(err) != 3 {
			t.Fatalf("deploy of a blue-green revision without autoPromote: exit %d, want 3 (paused):\n%s", exitCode(err), out)
		}
		client := &http.Client{Timeout: 5 * time.Second}
		if _, rev, _, err := s.get(client, "/", "X-Tend-Preview", s.status("hello").Rollout.PreviewToken); err != nil || rev != "3" {
			t.Fatalf("a request with the rollout's preview token reached revision %q (%v), want 3", rev, err)
		}
		if _, rev, _, _ := s.get(client, "/", "X-Tend-Preview", "1"); rev != "2" {
			t.Fatalf("X-Tend-Preview: 1 without the token reached revision %q before promote, want 2", rev)
		}
		if _, rev, _, _ := s.get(client, "/"); rev != "2" {
			t.Fatalf("a normal request reached revision %q before promote, want 2", rev)
		}
		time.Sleep(2 * time.Second)
		s.mustTend("promote", "hello")
		waitFor(t, 30*time.Second, "blue-green to complete", func() error { return phaseIs(s, "Completed", 3) })
		revs := holdLoad(t, l, start, minLoad, "blue-green 2→3")
		if revs["2"] == 0 || revs["3"] == 0 {
			t.Errorf("responses did not switch from revision 2 to 3: %v", revs)
		}
	})

	t.Run("canary", func(t *testing.T) {
		start := time.Now()
		l := startLoad(s, rps, 2*time.Minute)
		spec := writeSpec(t, dir, specWith("4", `  canary:
    steps: [{weight: 25}, {pause: {}}, {weight: 50}, {pause: 2s}]
    match: [{header: {X-Canary: "yes"}}]`))
		out, err := s.tend("deploy", "-f", spec)
		if exitCode(err) != 3 {
			t.Fatalf("canary deploy: exit %d, want 3 (paused at the first pause):\n%s", exitCode(err), out)
		}
		client := &http.Client{Timeout: 5 * time.Second}
		if _, rev, _, err := s.get(client, "/", "X-Canary", "yes"); err != nil || rev != "4" {
			t.Fatalf("a request matching the canary rule reached revision %q (%v), want 4", rev, err)
		}
		time.Sleep(3 * time.Second)
		s.mustTend("promote", "hello")
		waitFor(t, 60*time.Second, "the canary to complete", func() error { return phaseIs(s, "Completed", 4) })
		revs := holdLoad(t, l, start, minLoad, "canary 3→4")
		if revs["3"] == 0 || revs["4"] == 0 {
			t.Errorf("responses did not switch from revision 3 to 4: %v", revs)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		start := time.Now()
		l := startLoad(s, rps, 2*time.Minute)
		time.Sleep(2 * time.Second)
		out := s.mustTend("rollback", "hello")
		if !strings.Contains(out, "route switch") {
			t.Errorf("rollback inside the window was not a route switch:\n%s", out)
		}
		client := &http.Client{Timeout: 5 * time.Second}
		if _, rev, _, _ := s.get(client, "/"); rev != "3" {
			t.Errorf("right after rollback a request reached revision %q, want 3", rev)
		}
		revs := holdLoad(t, l, start, minLoad, "rollback 4→3")
		if revs["4"] == 0 || revs["3"] == 0 {
			t.Errorf("responses did not switch from revision 4 back to 3: %v", revs)
		}
	})
}

func phaseIs(s *server, phase string, stable int) error {
	st := s.status("hello")
	if string(st.Rollout.Phase) != phase || st.Rollout.Stable != stable {
		return errorf("phase %s stable %d (%s)", st.Rollout.Phase, st.Rollout.Stable, st.Rollout.Message)
	}
	return nil
}

func TestNeverReadyRevisionFailsAndOldKeepsServing(t *testing.T) {
	s, dir := deployed(t)
	start := time.Now()
	l := startLoad(s, 100, 2*time.Minute)
	bad := strings.Replace(specWith("2", rolling), "progressDeadline: 30s", "progressDeadline: 6s", 1)
	bad = strings.Replace(bad, `env: {RELEASE: "2"}`, `env: {RELEASE: "2", FAULT_NEVER_READY: "1"}`, 1)
	spec := writeSpec(t, dir, bad)
	out, err := s.tend("deploy", "-f", spec)
	if exitCode(err) != 2 {
		t.Fatalf("deploy of a never-ready revision: exit %d, want 2:\n%s", exitCode(err), out)
	}
	if !strings.Contains(out, "progressDeadline") {
		t.Errorf("deploy output does not say why it failed (progressDeadline):\n%s", out)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("deploy took %s to fail with a 6s progressDeadline", took)
	}
	revs := holdLoad(t, l, start, 5*time.Second, "never-ready revision 2")
	if revs["2"] != 0 {
		t.Errorf("%d user requests reached the never-ready revision", revs["2"])
	}
	st := s.status("hello")
	if st.Rollout.Stable != 1 || st.Rollout.Phase != "RolledBack" {
		t.Errorf("after the failed rollout: stable %d phase %s, want 1 RolledBack", st.Rollout.Stable, st.Rollout.Phase)
	}
}

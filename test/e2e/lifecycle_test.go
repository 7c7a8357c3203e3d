package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
)

// TestAnAppsWholeLifeFromTheCLI: deploy, diff (no change, then a change), a dry run,
// scale to zero (503) and back, delete (route gone, instances stopped, history kept),
// each with the exit code the CLI documents.
func TestAnAppsWholeLifeFromTheCLI(t *testing.T) {
	s, dir := deployed(t)
	spec := dir + "/tend.yaml"
	client := &http.Client{Timeout: 5 * time.Second}

	out, err := s.tend("diff", "-f", spec)
	if exitCode(err) != 0 || !strings.Contains(out, "no change") {
		t.Fatalf("diff of the deployed spec: exit %d, want 0 and no change:\n%s", exitCode(err), out)
	}
	writeSpec(t, dir, specWith("2", rolling))
	out, err = s.tend("diff", "-f", spec)
	if exitCode(err) != 1 || !strings.Contains(out, `env RELEASE: "1" → "2"`) {
		t.Fatalf("diff of a changed env: exit %d, want 1 naming RELEASE:\n%s", exitCode(err), out)
	}
	out, err = s.tend("deploy", "-f", spec, "--dry-run")
	if exitCode(err) != 0 || !strings.Contains(out, `env RELEASE: "1" → "2"`) || !strings.Contains(out, "in place of revision 1") {
		t.Fatalf("deploy --dry-run: exit %d, want 0 with what would change:\n%s", exitCode(err), out)
	}
	if st := s.status("hello"); st.Rollout.Stable != 1 || st.Rollout.To != 1 {
		t.Fatalf("after the dry run: stable %d, to %d; want revision 1 only", st.Rollout.Stable, st.Rollout.To)
	}
	var h v1.History
	if err := json.Unmarshal([]byte(s.mustTend("history", "hello", "-o", "json")), &h); err != nil || len(h.Revisions) != 1 {
		t.Fatalf("history after the dry run: %d revisions (%v), want 1", len(h.Revisions), err)
	}
	if out, err := s.tend("diff", "-f", dir+"/missing.yaml"); exitCode(err) != 4 {
		t.Fatalf("diff of a missing file: exit %d, want 4:\n%s", exitCode(err), out)
	}

	before := s.status("hello").Running
	out = s.mustTend("scale", "hello", "0")
	if !strings.Contains(out, "scaled to zero") {
		t.Errorf("scale 0 says %q", out)
	}
	waitFor(t, 30*time.Second, "no instance after scale 0", func() error {
		if n := len(s.status("hello").Running); n != 0 {
			return errorf("%d instances", n)
		}
		return nil
	})
	for _, in := range before {
		if in.PID != 0 && alive(in.PID) {
			t.Errorf("instance %s (pid %d) still runs after scale 0", in.ID, in.PID)
		}
	}
	if code, _, body, err := s.get(client, "/"); code != 503 || !strings.Contains(body, "scaled to zero") {
		t.Fatalf("GET / scaled to zero: %d %v %q, want 503 saying so", code, err, body)
	}
	if st := s.status("hello"); st.Instances != 0 {
		t.Errorf("status instances %d, want 0", st.Instances)
	}

	s.mustTend("scale", "hello", "2")
	waitFor(t, 30*time.Second, "2 ready instances after scale 2", func() error {
		if code, _, _, err := s.get(client, "/"); code != 200 {
			return errorf("GET /: %d %v", code, err)
		}
		if n := countReady(s.status("hello").Running); n != 2 {
			return errorf("%d ready", n)
		}
		return nil
	})

	// what the instances scale 0 stopped wrote: tend logs --previous, theirs and no other
	stopped := map[string]bool{}
	for _, in := range before {
		stopped[in.ID] = true
	}
	now := map[string]bool{}
	for _, in := range s.status("hello").Running {
		now[in.ID] = true
	}
	previous := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(s.mustTend("logs", "hello", "--previous", "--tail", "-1", "-o", "json")), "\n") {
		var line struct{ Instance string }
		if err := json.Unmarshal([]byte(l), &line); err != nil || now[line.Instance] {
			t.Fatalf("logs --previous printed %q (%v): a running instance's line, or no JSON", l, err)
		}
		previous[line.Instance]++
	}
	for id := range stopped {
		if previous[id] == 0 {
			t.Errorf("logs --previous has no line of %s, stopped by scale 0: %v", id, previous)
		}
	}
	if out, err := s.tend("logs", "hello", "--previous", "-f"); exitCode(err) != 4 {
		t.Errorf("logs --previous -f: exit %d, want 4 (they write no new lines):\n%s", exitCode(err), out)
	}

	// a deploy for a script: progress on stderr, the outcome as JSON on stdout
	cmd := s.Command(context.Background(), "deploy", "-f", spec, "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	var outcome struct {
		App      string   `json:"app"`
		Revision int      `json:"revision"`
		Phase    v1.Phase `json:"phase"`
		ExitCode int      `json:"exitCode"`
	}
	if err != nil || json.Unmarshal(raw, &outcome) != nil || outcome.Revision != 2 || outcome.Phase != v1.Completed || outcome.ExitCode != 0 {
		t.Fatalf("deploy -o json: exit %d, outcome %+v, want revision 2 Completed with exit code 0:\n%s\nstderr:\n%s", exitCode(err), outcome, raw, stderr.String())
	}
	if !strings.Contains(stderr.String(), "hello revision 2 serves") {
		t.Errorf("deploy -o json: the progress is not on stderr:\n%s", stderr.String())
	}

	waitFor(t, 30*time.Second, "revision 1's instances gone after the rollout", func() error {
		if n := len(s.status("hello").Running); n != 3 {
			return errorf("%d instances", n)
		}
		return nil
	})
	running := s.status("hello").Running
	out = s.mustTend("delete", "hello", "--yes")
	if !strings.Contains(out, "deleted hello") || !strings.Contains(out, "3 instances stopped") {
		t.Errorf("delete says %q", out)
	}
	for _, in := range running {
		if in.PID != 0 && alive(in.PID) {
			t.Errorf("instance %s (pid %d) still runs after delete", in.ID, in.PID)
		}
	}
	var routes []v1.Route
	if err := json.Unmarshal([]byte(s.mustTend("routes", "-o", "json")), &routes); err != nil || len(routes) != 0 {
		t.Fatalf("routes after delete: %+v (%v), want none", routes, err)
	}
	waitFor(t, 10*time.Second, "the gateway forgets hello", func() error {
		if code, _, _, _ := s.get(client, "/"); code != 404 {
			return errorf("GET /: %d", code)
		}
		return nil
	})
	if out, err := s.tend("status", "hello"); exitCode(err) != 4 {
		t.Errorf("status of a deleted app: exit %d, want 4:\n%s", exitCode(err), out)
	}
	if out := s.mustTend("history", "hello"); !strings.Contains(out, "deleted hello") {
		t.Errorf("history of the deleted app does not keep its revisions and the delete:\n%s", out)
	}
	if out, err := s.tend("delete", "hello", "--yes"); exitCode(err) != 4 {
		t.Errorf("delete of a deleted app: exit %d, want 4:\n%s", exitCode(err), out)
	}
}

func countReady(in []v1.Instance) int {
	n := 0
	for _, i := range in {
		if i.State == v1.Ready {
			n++
		}
	}
	return n
}

// TestTheSpecTendInitWritesDeploys: tend init in examples/hello finds its port and
// health paths, and what it writes deploys and serves as it is (build.main pointed at
// the example, since the spec is written elsewhere).
func TestTheSpecTendInitWritesDeploys(t *testing.T) {
	s := startServer(t, t.TempDir())
	cmd := s.Command(context.Background(), "init", "--stdout")
	cmd.Dir = helloDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "readiness: {http: /ready") || strings.Contains(string(out), "# not detected") {
		t.Fatalf("tend init in examples/hello: exit %d, want a spec with /ready detected:\n%s\n%s", exitCode(err), out, stderr.String())
	}
	spec := strings.Replace(string(out), "main: .", "main: "+helloDir, 1)
	if deployed := s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), spec)); !strings.Contains(deployed, "hello revision 1 serves") {
		t.Fatalf("deploy of tend init's spec:\n%s", deployed)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if code, _, body, err := s.get(client, "/"); code != 200 {
		t.Fatalf("GET / after deploying tend init's spec: %d %v %q", code, err, body)
	}
}

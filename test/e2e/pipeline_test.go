package e2e

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The pipeline of docs/ci.md, as its script (examples/ci/deploy.sh) runs in a job: from a
// directory that shares nothing with the server, with a deploy token for the app, it
// tests, deploys a canary that fails its analysis, and exits 2 with the failed check
// named; the stable revision serves again.
func TestThePipelineScriptRollsBackAFailingCanary(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, analysed)))
	job := newRemoteClient(t, s, createToken(t, s, "ci", "--role", "deploy", "--apps", "hello"))

	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if err := os.WriteFile(filepath.Join(job.dir, "tend.yaml"), []byte(canarySpec(`RELEASE: "2", FAULT_ERROR_RATE: "0.05"`, analysed)), 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLoad(s, 200, 3*time.Minute)
	time.Sleep(2 * time.Second) // stable traffic in the metrics before the canary starts
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	job.env = []string{"PATH=" + filepath.Dir(tendBin) + ":" + os.Getenv("PATH"), "TEST_DIR=" + root, "TEST_PACKAGES=./examples/hello"}
	out, err := job.command(ctx, "bash", filepath.Join(root, "examples", "ci", "deploy.sh"), "tend.yaml").CombinedOutput()
	res := l.Finish()
	t.Logf("deploy.sh: exit %d\n%s", exitCode(err), out)
	if code := exitCode(err); code != 2 {
		t.Fatalf("the pipeline of a failing canary exited %d, want 2", code)
	}
	for _, want := range []string{"== test hello", "upload:", "error-rate", "tend rolled it back"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the pipeline's output lacks %q", want)
		}
	}
	if st := s.status("hello"); st.Rollout.Stable != 1 || st.Rollout.Phase != "RolledBack" {
		t.Errorf("after the pipeline: stable %d, phase %s; want 1, RolledBack", st.Rollout.Stable, st.Rollout.Phase)
	}
	if res.FailedByRevision["1"] != 0 {
		t.Errorf("requests failed on the stable revision: %v", res.FailedByRevision)
	}
}

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTheProgressOnAnEightyColumnTerminal runs tend deploy of a canary in a tmux pane of
// 80 columns and reads the screen as a person sees it: the build as one row with the time
// it took, one row per step (the history stays), no row wrapped or left with the
// fragment of a longer one, and the outcome.
func TestTheProgressOnAnEightyColumnTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (Debian's tmux package; .ci/run installs it)")
	}
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	const steps = `    steps: [{weight: 10}, {pause: 3s}, {weight: 50}, {pause: 3s}]`
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, steps)))
	// a version of its own makes revision 2 a build of its own: its row is read too
	spec := writeSpec(t, dir, strings.Replace(canarySpec(`RELEASE: "2"`, steps), "build: {main: ", "build: {version: progress-2, main: ", 1))

	sock := filepath.Join(t.TempDir(), "tmux.sock")
	done := filepath.Join(dir, "exit-code")
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	shell := fmt.Sprintf("env TEND_API=%s TEND_DATA=%s TEND_TOKEN= TEND_CA_FILE= TERM=xterm %s deploy -f %s; echo $? > %s; sleep 60",
		s.URL, s.DataDir, s.Bin, spec, done)
	if out, err := tmux("new-session", "-d", "-s", "deploy", "-x", "80", "-y", "40", shell); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = tmux("kill-server") })

	var code string
	waitFor(t, 90*time.Second, "the deploy in tmux to end", func() error {
		b, err := os.ReadFile(done)
		if err != nil {
			return err
		}
		code = strings.TrimSpace(string(b))
		return nil
	})
	screen, err := tmux("capture-pane", "-p", "-t", "deploy")
	if err != nil {
		t.Fatalf("tmux capture-pane: %v\n%s", err, screen)
	}
	if code != "0" {
		t.Fatalf("tend deploy in tmux exited %s, want 0:\n%s", code, screen)
	}
	rows := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	progress := regexp.MustCompile(`^\d\d:\d\d:\d\d  \S`)
	var steps10, steps50, countdown, built bool
	for _, r := range rows {
		switch {
		case r == "":
		case strings.HasPrefix(r, "hello revision 2"), strings.HasPrefix(r, "upload: "), strings.HasPrefix(r, "build: "):
			if len([]rune(r)) >= 80 {
				t.Errorf("a row of %d columns (it wraps on 80):\n%q", len([]rune(r)), r)
			}
			if strings.Contains(r, "-ldflags") {
				t.Errorf("the go build command is shown whole without -v:\n%q", r)
			}
			built = built || regexp.MustCompile(`^build: hello: built in [0-9.]+m?s: sha256:`).MatchString(r)
		case progress.MatchString(r):
			steps10 = steps10 || strings.Contains(r, "weight  10%")
			steps50 = steps50 || strings.Contains(r, "weight  50%")
			countdown = countdown || regexp.MustCompile(`weight  10%  \ds left  canary step 2/`).MatchString(r)
			if len([]rune(r)) >= 80 {
				t.Errorf("a row of %d columns (it wraps on 80):\n%q", len([]rune(r)), r)
			}
		default:
			t.Errorf("a row that is no progress line, nor the outcome (a fragment?):\n%q", r)
		}
	}
	if !steps10 || !steps50 {
		t.Errorf("the screen keeps the rows of weight 10%% (%v) and 50%% (%v): want both", steps10, steps50)
	}
	if !built {
		t.Errorf("no row says the build of revision 2 ended and how long it took")
	}
	if !countdown {
		t.Errorf("the pause at 10%% shows no countdown")
	}
	if !strings.Contains(screen, "hello revision 2 serves") {
		t.Errorf("the screen does not end with the outcome")
	}
	t.Logf("the screen:\n%s", screen)
}

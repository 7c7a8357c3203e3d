package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tendhq/tend/internal/api/v1"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// strategies cycle over the trials so that kills land in every kind of rollout.
var strategies = []struct{ name, block string }{
	{"rolling", harness.Rolling},
	{"blue-green", `  blueGreen: {autoPromote: true}`},
	{"canary", `  canary:
    steps: [{weight: 25}, {pause: 1s}, {weight: 50}, {pause: 1s}]`},
}

// serverKills runs trials rollouts of 3 instances and kills `tend server` with SIGKILL at a
// random point of each, then starts a new server on the same data dir and addresses and
// checks that the rollout ends (completed or reverted), that the instances that survived are
// adopted, that no instance process is left that tend does not know, that no revision is
// lost and that the gateway serves the stable revision.
func (b *bench) serverKills(w io.Writer, trials int) (int, error) {
	dir := filepath.Join(b.Dir, "server-kills")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer harness.KillUnder(data) // whatever a failed scenario left running
	s, spec, err := b.deployed(dir, data)
	if err != nil {
		return 0, err
	}
	defer func() { s.Stop() }()
	// one rollout of each strategy without a kill, to spread the kill points over its length
	normal := map[string]time.Duration{}
	for i, st := range strategies {
		if _, err := b.spec(dir, 3, strconv.Itoa(2+i), st.block); err != nil {
			return 0, err
		}
		began := time.Now()
		if out, err := s.Tend("deploy", "-f", spec); err != nil {
			return 0, fmt.Errorf("%s deploy without a kill: %w\n%s", st.name, err, out)
		}
		normal[st.name] = time.Since(began)
	}

	fmt.Fprintf(w, "### `tend server` killed with SIGKILL during rollouts\n\n")
	fmt.Fprintf(w, "3 instances; rollouts without a kill took %s (rolling), %s (blue-green) and %s (canary, with 2 s of pauses); each kill lands uniformly in [0, 1.3 × its strategy's time] after `tend deploy` starts. A new server then starts on the same data dir and addresses. *Adopted* counts the instances that outlived the kill and that the new server took over (the others were being stopped at the kill and had finished by the time it asked); *orphans* are instance processes tend does not know once the rollout has ended.\n\n",
		normal["rolling"].Round(10*time.Millisecond), normal["blue-green"].Round(10*time.Millisecond), normal["canary"].Round(10*time.Millisecond))
	fmt.Fprintln(w, "| trial | strategy | killed after | phase at kill | outcome | adopted | orphans | revisions lost | gateway | clean |")
	fmt.Fprintln(w, "|---:|---|---:|---|---|---:|---:|---:|---|---|")
	unclean := 0
	for i := 0; i < trials; i++ {
		var t trial
		t, s, err = b.killDuringRollout(s, dir, spec, 2+len(strategies)+i, normal)
		if err != nil {
			return unclean, fmt.Errorf("trial %d: %w", i+1, err)
		}
		if !t.clean() {
			unclean++
			b.log.Warn("unclean trial", "trial", i+1, "problems", t.problems, "server log tail", tail(s.Log(), 4000))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %d/%d | %d | %d | %s | %s |\n", i+1, t.strategy, t.after.Round(time.Millisecond),
			t.phaseAtKill, t.outcome, t.adopted, t.survivors, t.orphans, t.lost, t.gateway, t.verdict())
	}
	fmt.Fprintf(w, "\n%d of %d trials clean.\n", trials-unclean, trials)
	// a normal stop stops every instance
	s.Stop()
	if err := waitFor(30*time.Second, func() error {
		if left := harness.ProcessesUnder(data); len(left) > 0 {
			return fmt.Errorf("instances %v still run after the server stopped", left)
		}
		return nil
	}); err != nil {
		fmt.Fprintf(w, "After the last normal stop: %v.\n", err)
		unclean++
	}
	return unclean, nil
}

// trial is what one kill showed.
type trial struct {
	strategy, phaseAtKill, outcome, gateway string
	after                                   time.Duration
	survivors, adopted, orphans, lost       int
	problems                                []string
}

func (t *trial) fail(format string, a ...any) {
	t.problems = append(t.problems, fmt.Sprintf(format, a...))
}
func (t *trial) clean() bool { return len(t.problems) == 0 }

func (t *trial) verdict() string { return verdict(t.problems) }

// killDuringRollout deploys release with the trial's strategy, kills the server at a random
// point, restarts it and checks the outcome; it returns the new server.
func (b *bench) killDuringRollout(s *harness.Server, dir, spec string, release int, normal map[string]time.Duration) (trial, *harness.Server, error) {
	st := strategies[release%len(strategies)]
	t := trial{strategy: st.name}
	prev, err := s.Status("hello")
	if err != nil {
		return t, s, err
	}
	before, err := revisions(s)
	if err != nil {
		return t, s, err
	}
	if _, err := b.spec(dir, 3, strconv.Itoa(release), st.block); err != nil {
		return t, s, err
	}
	var out bytes.Buffer
	cmd := s.Command(context.Background(), "deploy", "-f", spec)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return t, s, err
	}
	time.Sleep(time.Duration(b.rng.Float64() * 1.3 * float64(normal[st.name])))
	t.after = time.Since(start)
	if at, err := s.Status("hello"); err == nil {
		t.phaseAtKill = fmt.Sprintf("%s %d→%d", at.Rollout.Phase, at.Rollout.From, at.Rollout.To)
	}
	survivors := harness.ProcessesUnder(s.DataDir)
	s.Crash()
	_ = cmd.Wait()
	for _, pid := range survivors {
		if harness.Alive(pid) {
			t.survivors++
		}
	}
	if t.survivors != len(survivors) {
		t.fail("%d instances died with the server", len(survivors)-t.survivors)
	}
	s2, err := harness.Start(harness.Config{Bin: b.Bin, DataDir: s.DataDir, API: s.API, Gateway: s.Gateway})
	if err != nil {
		return t, s, fmt.Errorf("restart after the kill: %w", err)
	}
	first, err := s2.Status("hello")
	if err != nil {
		return t, s2, err
	}
	known := map[int]bool{}
	for _, in := range first.Running {
		known[in.PID] = true
	}
	for _, pid := range survivors {
		switch {
		case known[pid]:
			t.adopted++
		case harness.Alive(pid):
			t.fail("instance pid %d outlived the kill but the new server does not know it", pid)
		}
		// neither: it was being stopped at the kill and has finished stopping since
	}

	// the rollout ends and the instances settle: every one ready, none unknown to tend
	var end v1.App
	settle := waitFor(2*time.Minute, func() error {
		if end, err = s2.Status("hello"); err != nil {
			return err
		}
		if !end.Rollout.Phase.Terminal() {
			return fmt.Errorf("rollout still %s: %s", end.Rollout.Phase, end.Rollout.Message)
		}
		known = map[int]bool{}
		for _, in := range end.Running {
			if in.State != "ready" {
				return fmt.Errorf("instance %s is %s", in.ID, in.State)
			}
			known[in.PID] = true
		}
		t.orphans = 0
		for _, pid := range harness.ProcessesUnder(s.DataDir) {
			if !known[pid] {
				t.orphans++
			}
		}
		if t.orphans > 0 {
			return fmt.Errorf("%d instance processes unknown to tend", t.orphans)
		}
		return nil
	})
	if settle != nil {
		t.fail("did not settle in 2m: %v", settle)
	}
	after, err := revisions(s2)
	if err != nil {
		return t, s2, err
	}
	// the trial's revision: the one the CLI announced, else any new one tend made
	created := 0
	if m := announced.FindStringSubmatch(out.String()); m != nil {
		created, _ = strconv.Atoi(m[1])
	} else if len(after) > 0 && (len(before) == 0 || slices.Max(after) > slices.Max(before)) {
		created = slices.Max(after)
	}
	switch {
	case created == 0 && end.Rollout.Stable == prev.Rollout.Stable:
		t.outcome = "not started (deploy got an error)"
	case end.Rollout.Phase == v1.Completed && end.Rollout.Stable == created:
		t.outcome = "resumed, completed"
	case end.Rollout.Stable == prev.Rollout.Stable && end.Rollout.To == created:
		t.outcome = "reverted (" + string(end.Rollout.Phase) + ")"
	default:
		t.outcome = fmt.Sprintf("%s stable %d", end.Rollout.Phase, end.Rollout.Stable)
		t.fail("unexpected end: phase %s, stable %d, to %d, revision made %d (%s)", end.Rollout.Phase, end.Rollout.Stable, end.Rollout.To, created, end.Rollout.Message)
	}
	want := slices.Clone(before)
	if created != 0 {
		want = append(want, created)
	}
	slices.Sort(want)
	want = want[max(0, len(want)-10):] // tend keeps the last 10 revisions
	for _, n := range want {
		if !slices.Contains(after, n) {
			t.lost++
		}
	}
	if t.lost > 0 {
		t.fail("revisions lost: had %v, now %v", want, after)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	code, rev, _, err := s2.Get(client, "/")
	t.gateway = fmt.Sprintf("%d rev %s", code, rev)
	if err != nil || code != http.StatusOK || rev != strconv.Itoa(end.Rollout.Stable) {
		t.fail("gateway answered %d from revision %q (%v), want 200 from %d", code, rev, err, end.Rollout.Stable)
	}
	return t, s2, nil
}

// announced is how `tend deploy` names the revision it made.
var announced = regexp.MustCompile(`hello revision (\d+) `)

// revisions lists the numbers of the revisions tend keeps for hello.
func revisions(s *harness.Server) ([]int, error) {
	out, err := s.Tend("history", "hello", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("tend history: %w: %s", err, out)
	}
	var h v1.History
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		return nil, fmt.Errorf("decode tend history: %w: %s", err, tail(out, 200))
	}
	var ns []int
	for _, r := range h.Revisions {
		ns = append(ns, r.Number)
	}
	return ns, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

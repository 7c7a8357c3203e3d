package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/spec"
)

// sim plays the runtime: instances of a revision become available one tick after they are asked for,
// unless the revision is broken.
type sim struct {
	now      time.Time
	running  map[int]int
	broken   map[int]bool
	restarts map[int]int // restarts of a revision's instances so far
}

func newSim(running map[int]int) *sim {
	return &sim{now: time.Unix(1_700_000_000, 0), running: running, broken: map[int]bool{}}
}

func (s *sim) obs() Observation {
	o := Observation{Ready: map[int]int{}, Available: map[int]int{}, Total: map[int]int{}, Why: map[int]string{},
		Restarts: s.restarts, LastExit: map[int]string{}}
	for rev := range s.restarts {
		o.LastExit[rev] = "hello-2-x: exited: exit status 2"
	}
	for rev, n := range s.running {
		o.Total[rev] = n
		if !s.broken[rev] {
			o.Ready[rev] = n
			o.Available[rev] = n
		} else {
			o.Why[rev] = "hello-2-x: readiness: 503"
		}
	}
	return o
}

// step advances one tick and applies the decision: scale-ups land on the next tick, scale-downs at once.
func (s *sim) step(t *testing.T, st *State, sp spec.App, v *Verdict) Output {
	t.Helper()
	s.now = s.now.Add(time.Second)
	out := Advance(st, Input{Now: s.now, Spec: sp, Obs: s.obs(), Verdict: v})
	next := map[int]int{}
	for rev, n := range out.Replicas {
		if n > 0 {
			next[rev] = n
		}
	}
	s.running = next
	sum := 0
	for _, sp := range out.Splits {
		sum += sp.Weight
	}
	if len(out.Splits) > 0 && sum != 100 {
		t.Fatalf("splits %v do not add up to 100", out.Splits)
	}
	return out
}

func appSpec(strategy spec.Strategy) spec.App {
	strategy.ProgressDeadline = 30 * time.Second
	strategy.RollbackWindow = 10 * time.Minute
	return spec.App{App: "hello", Instances: 4, Strategy: strategy}
}

func TestInitialDeployCompletes(t *testing.T) {
	s := newSim(map[int]int{})
	sp := appSpec(spec.Strategy{})
	st := Start(nil, "hello", 1, sp, 4, s.now)
	for i := 0; i < 5 && !st.Phase.Terminal(); i++ {
		s.step(t, st, sp, nil)
	}
	if st.Phase != Completed || st.Stable != 1 {
		t.Fatalf("phase %s stable %d, want Completed with stable 1 (%s)", st.Phase, st.Stable, st.Message)
	}
}

func TestRollingStaysWithinSurgeAndAvailability(t *testing.T) {
	s := newSim(map[int]int{1: 4})
	sp := appSpec(spec.Strategy{Rolling: &spec.Rolling{MaxSurge: spec.IntOrPercent{Value: 1}, MaxUnavailable: spec.IntOrPercent{Value: 0}}})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	for i := 0; i < 40 && !st.Phase.Terminal(); i++ {
		out := s.step(t, st, sp, nil)
		total := 0
		for _, n := range out.Replicas {
			total += n
		}
		if total > 5 {
			t.Fatalf("tick %d: %d instances asked for, maxSurge 1 allows 5: %v", i, total, out.Replicas)
		}
		if avail := s.obs().Available[1] + s.obs().Available[2]; avail < 4 {
			t.Fatalf("tick %d: %d instances available, maxUnavailable 0 needs 4", i, avail)
		}
	}
	if st.Phase != Completed || st.Stable != 2 || s.running[1] != 0 || s.running[2] != 4 {
		t.Fatalf("phase %s stable %d running %v, want revision 2 alone at 4", st.Phase, st.Stable, s.running)
	}
}

func TestRollingFailsAfterDeadlineAndRevertsTraffic(t *testing.T) {
	s := newSim(map[int]int{1: 4})
	s.broken[2] = true
	sp := appSpec(spec.Strategy{Rolling: &spec.Rolling{MaxSurge: spec.IntOrPercent{Value: 25, Percent: true}}})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	var out Output
	for i := 0; i < 100 && !st.Phase.Terminal(); i++ {
		out = s.step(t, st, sp, nil)
		for _, split := range out.Splits {
			if split.Revision == 2 && split.Weight > 0 {
				t.Fatalf("tick %d: traffic %v sent to a revision that never got ready", i, out.Splits)
			}
		}
	}
	if st.Phase != RolledBack || st.Stable != 1 {
		t.Fatalf("phase %s stable %d, want RolledBack to 1", st.Phase, st.Stable)
	}
	if !strings.Contains(st.Message, "progressDeadline): hello-2-x: readiness: 503") {
		t.Fatalf("message %q does not name the deadline and what the instances said", st.Message)
	}
	if s.running[2] != 0 || s.running[1] != 4 {
		t.Fatalf("running %v, want revision 1 at 4 and no revision 2", s.running)
	}
}

func TestBlueGreenWaitsForPromoteThenSwitchesAndKeepsOldWarm(t *testing.T) {
	s := newSim(map[int]int{1: 4})
	sp := appSpec(spec.Strategy{BlueGreen: &spec.BlueGreen{}})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	var out Output
	for i := 0; i < 10; i++ {
		out = s.step(t, st, sp, nil)
	}
	if st.Phase != Paused || out.Preview != 2 || out.Splits[0] != (route.Split{Revision: 1, Weight: 100}) {
		t.Fatalf("phase %s preview %d splits %v, want Paused with preview 2 and all traffic on 1", st.Phase, out.Preview, out.Splits)
	}
	if err := Promote(st, false, s.obs(), s.now); err != nil {
		t.Fatal(err)
	}
	out = s.step(t, st, sp, nil)
	if st.Phase != Completed || out.Splits[0] != (route.Split{Revision: 2, Weight: 100}) || out.Replicas[1] != 4 {
		t.Fatalf("after promote: phase %s splits %v replicas %v, want Completed, all on 2, 1 kept warm", st.Phase, out.Splits, out.Replicas)
	}
	if !Rollback(st, 1, s.obs(), s.now) {
		t.Fatal("rollback to the warm revision was not a route switch")
	}
	out = s.step(t, st, sp, nil)
	if st.Stable != 1 || out.Splits[0] != (route.Split{Revision: 1, Weight: 100}) || out.Replicas[2] != 4 {
		t.Fatalf("after rollback: stable %d splits %v replicas %v, want 1 serving and 2 warm", st.Stable, out.Splits, out.Replicas)
	}
	s.now = s.now.Add(11 * time.Minute)
	out = s.step(t, st, sp, nil)
	if out.Replicas[2] != 0 {
		t.Fatalf("revision 2 still asked for %d instances after the rollback window", out.Replicas[2])
	}
}

func TestCanaryStepsPauseAndPromote(t *testing.T) {
	w10, w50 := 10, 50
	sp := appSpec(spec.Strategy{Canary: &spec.Canary{Steps: []spec.CanaryStep{
		{Weight: &w10}, {Pause: &spec.Pause{Duration: 5 * time.Second}}, {Weight: &w50}, {Pause: &spec.Pause{}},
	}}})
	s := newSim(map[int]int{1: 4})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	var weights []int
	for i := 0; i < 30 && st.Phase != Paused || st.PauseUntil.After(s.now); i++ {
		out := s.step(t, st, sp, nil)
		if !out.MatchCanary {
			t.Fatal("canary match rules are off during the canary")
		}
		if len(weights) == 0 || weights[len(weights)-1] != st.Weight {
			weights = append(weights, st.Weight)
		}
	}
	if st.Phase != Paused || st.Weight != 50 || st.Step != 3 {
		t.Fatalf("phase %s weight %d step %d, want Paused at 50%% on step 4", st.Phase, st.Weight, st.Step+1)
	}
	if err := Promote(st, false, s.obs(), s.now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && !st.Phase.Terminal(); i++ {
		s.step(t, st, sp, nil)
	}
	if st.Phase != Completed || st.Stable != 2 {
		t.Fatalf("phase %s stable %d, want Completed on 2", st.Phase, st.Stable)
	}
	if got := weights; len(got) < 3 || got[1] != 10 || got[2] != 50 {
		t.Fatalf("weights went %v, want 0 → 10 → 50 → 100", got)
	}
}

func TestCanaryAnalysisFailureRollsBack(t *testing.T) {
	w := 20
	sp := appSpec(spec.Strategy{Canary: &spec.Canary{Steps: []spec.CanaryStep{{Weight: &w}, {Analysis: &spec.Analysis{}}}}})
	s := newSim(map[int]int{1: 4})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	var out Output
	for i := 0; i < 10 && out.Analyze == nil; i++ {
		out = s.step(t, st, sp, nil)
	}
	if out.Analyze == nil || out.Analyze.OnFailure != "rollback" {
		t.Fatalf("no analysis asked for, or onFailure %v", out.Analyze)
	}
	out = s.step(t, st, sp, &Verdict{Result: "fail", Message: "error-rate 5% > 1%"})
	for i := 0; i < 5 && !st.Phase.Terminal(); i++ {
		out = s.step(t, st, sp, nil)
	}
	if st.Phase != RolledBack || st.Stable != 1 || out.Replicas[2] != 0 || len(st.Verdicts) != 1 {
		t.Fatalf("phase %s stable %d replicas %v verdicts %v, want RolledBack to 1", st.Phase, st.Stable, out.Replicas, st.Verdicts)
	}
}

func TestAbortReturnsTrafficToStable(t *testing.T) {
	w := 30
	sp := appSpec(spec.Strategy{Canary: &spec.Canary{Steps: []spec.CanaryStep{{Weight: &w}, {Pause: &spec.Pause{}}}}})
	s := newSim(map[int]int{1: 4})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	for i := 0; i < 5; i++ {
		s.step(t, st, sp, nil)
	}
	if err := Abort(st, s.now); err != nil {
		t.Fatal(err)
	}
	out := s.step(t, st, sp, nil)
	if st.Stable != 1 || out.Replicas[2] != 0 || out.Splits[0] != (route.Split{Revision: 1, Weight: 100}) {
		t.Fatalf("after abort: stable %d replicas %v splits %v", st.Stable, out.Replicas, out.Splits)
	}
	if err := Abort(st, s.now); err == nil {
		t.Fatal("a second abort succeeded")
	}
}

func TestOnlyTheReplacedRevisionStaysWarm(t *testing.T) {
	sp := appSpec(spec.Strategy{BlueGreen: &spec.BlueGreen{AutoPromote: true}})
	s := newSim(map[int]int{1: 4})
	st := &State{Stable: 1, Phase: Completed}
	for rev := 2; rev <= 4; rev++ {
		st = Start(st, "hello", rev, sp, 4, s.now)
		for i := 0; i < 10 && !st.Phase.Terminal(); i++ {
			s.step(t, st, sp, nil)
		}
	}
	out := s.step(t, st, sp, nil)
	if len(st.Warm) != 1 || st.Warm[0].Revision != 3 || out.Replicas[2] != 0 || out.Replicas[3] != 4 || out.Replicas[4] != 4 {
		t.Fatalf("warm %v replicas %v: want only revision 3 warm beside 4", st.Warm, out.Replicas)
	}
}

func TestBlueGreenPrePromotionAnalysisGatesTheSwitch(t *testing.T) {
	for _, c := range []struct {
		verdict string
		want    Phase
		serving int
	}{{"pass", Completed, 2}, {"fail", RolledBack, 1}, {"inconclusive", Paused, 1}} {
		sp := appSpec(spec.Strategy{BlueGreen: &spec.BlueGreen{AutoPromote: true, Analysis: &spec.Analysis{OnFailure: "rollback"}}})
		s := newSim(map[int]int{1: 4})
		st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
		var out Output
		for i := 0; i < 10 && out.Analyze == nil; i++ {
			out = s.step(t, st, sp, nil)
		}
		if out.Analyze == nil || out.Splits[0] != (route.Split{Revision: 1, Weight: 100}) || out.Preview != 2 {
			t.Fatalf("%s: analyze %v splits %v preview %d, want an analysis while all traffic stays on 1 and 2 is previewable", c.verdict, out.Analyze, out.Splits, out.Preview)
		}
		out = s.step(t, st, sp, &Verdict{Result: c.verdict, Message: "numbers"})
		for i := 0; i < 5 && !st.Phase.Terminal() && st.Phase != Paused; i++ {
			out = s.step(t, st, sp, nil)
		}
		if st.Phase != c.want || out.Splits[0] != (route.Split{Revision: c.serving, Weight: 100}) || len(st.Verdicts) != 1 {
			t.Errorf("%s: phase %s splits %v verdicts %v, want %s with revision %d serving", c.verdict, st.Phase, out.Splits, st.Verdicts, c.want, c.serving)
		}
	}
}

// A canary whose instances keep restarting is rolled back, paused or not, with its
// restarts and last exit named; a warm revision's old restarts are not its rollout's.
func TestACrashLoopingCanaryIsRolledBackEvenWhilePaused(t *testing.T) {
	w := 10
	sp := appSpec(spec.Strategy{Canary: &spec.Canary{Steps: []spec.CanaryStep{{Weight: &w}, {Pause: &spec.Pause{}}}}})
	s := newSim(map[int]int{1: 4})
	st := Start(&State{Stable: 1, Phase: Completed}, "hello", 2, sp, 4, s.now)
	for i := 0; i < 10 && st.Phase != Paused; i++ {
		s.step(t, st, sp, nil)
	}
	if st.Phase != Paused {
		t.Fatalf("phase %s, want Paused at the pause step", st.Phase)
	}
	s.restarts = map[int]int{2: 2}
	s.step(t, st, sp, nil)
	if st.Phase != Paused {
		t.Fatalf("two restarts: phase %s, want still Paused", st.Phase)
	}
	s.restarts = map[int]int{2: 3}
	for i := 0; i < 5 && !st.Phase.Terminal(); i++ {
		s.step(t, st, sp, nil)
	}
	if st.Phase != RolledBack || st.Stable != 1 || !strings.Contains(st.Message, "restarted 3 times") || !strings.Contains(st.Message, "exit status 2") {
		t.Fatalf("phase %s stable %d message %q, want RolledBack to 1 naming 3 restarts and the last exit", st.Phase, st.Stable, st.Message)
	}
	// rolling back to a warm revision whose instances restarted long ago is not unstable
	back := Start(&State{Stable: 2, Phase: Completed, Warm: []Warm{{Revision: 1, Until: s.now.Add(time.Hour)}}}, "hello", 1, sp, 4, s.now)
	s.restarts = map[int]int{1: 5}
	s.step(t, back, sp, nil)
	if back.Phase == Reverting || back.Phase == RolledBack {
		t.Fatalf("a rollout to a warm revision with old restarts: phase %s (%s), want it to go on", back.Phase, back.Message)
	}
}

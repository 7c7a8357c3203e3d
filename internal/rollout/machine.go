package rollout

import (
	"errors"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/spec"
)

// Input is what one step of the machine looks at.
type Input struct {
	Now time.Time
	// Spec is the spec of revision To; its strategy drives the rollout.
	Spec spec.App
	Obs  Observation
	// Verdict is the result of the analysis the current step asked for, once it is known.
	Verdict *Verdict
}

// Output is what one step of the machine decided, and what it wants recorded.
type Output struct {
	Decision
	// Analyze asks the controller to run this analysis for the current step and to pass
	// the verdict back in Input.Verdict.
	Analyze *spec.Analysis
	// Events are human-readable records of what changed in this step.
	Events []string
}

// Start begins a rollout from the current stable revision to revision to. prev is the
// state before (nil for an app's first deploy); a rollout still in progress is superseded.
func Start(prev *State, app string, to int, sp spec.App, replicas int, now time.Time) *State {
	st := &State{App: app, Strategy: sp.Strategy.Kind(), To: to, Replicas: replicas, Phase: Progressing,
		StartedAt: now, ProgressAt: now, StepStarted: now}
	if prev != nil {
		st.Stable = prev.Stable
		st.From = prev.Stable
		st.Warm = prev.Warm
	}
	st.OldReplicas = replicas
	st.RollbackWindow = sp.Strategy.RollbackWindow
	if st.From == 0 {
		st.OldReplicas = 0
		st.Strategy = "initial"
	}
	st.Message = fmt.Sprintf("rolling out revision %d (%s)", to, st.Strategy)
	return st
}

// Steady is the state of an app that has never been rolled out: nothing runs.
func Steady(app string) *State { return &State{App: app, Phase: Completed} }

// Advance takes one step: it observes, moves the state on, and says what should run
// and how traffic is split. It is a pure function of st and in, so it can be replayed
// after a restart.
func Advance(st *State, in Input) Output {
	var out Output
	st.pruneWarm(in.Now)
	if st.Phase.Terminal() {
		return st.steady(out)
	}
	if n := in.Obs.Restarts[st.To]; n >= MaxRolloutRestarts && st.Phase != Reverting && st.newRevision() {
		why := fmt.Sprintf("revision %d is unstable: its instances restarted %d times during the rollout", st.To, n)
		if last := in.Obs.LastExit[st.To]; last != "" {
			why += " (last: " + last + ")"
		}
		return st.startRevert(in, out, why)
	}
	if st.ManualPause {
		return st.hold(out) // the deadline clock restarts on resume
	}
	switch st.Phase {
	case Reverting:
		return st.revert(in, out)
	case Paused:
		if st.PauseUntil.IsZero() || in.Now.Before(st.PauseUntil) {
			return st.hold(out) // the deadline clock restarts when the pause ends
		}
		st.Phase = Progressing
		st.PauseUntil = time.Time{}
		st.Step++
		st.StepStarted = in.Now
		st.ProgressAt = in.Now
		out.Events = append(out.Events, "pause ended")
	}
	switch st.Strategy {
	case "initial":
		return st.initial(in, out)
	case "blueGreen":
		return st.blueGreen(in, out)
	case "canary":
		return st.canary(in, out)
	default:
		return st.rolling(in, out)
	}
}

// MaxRolloutRestarts is how many restarts of the new revision's instances fail a rollout
// (with its onFailure: back to the previous revision): a revision that crash-loops never
// moves forward, paused or not.
const MaxRolloutRestarts = 3

// newRevision reports whether To's instances were all started by this rollout (not a
// revision that was already running, warm or stable), so that their restarts are its.
func (st *State) newRevision() bool {
	if st.To == st.From || st.To == st.Stable {
		return false
	}
	for _, w := range st.Warm {
		if w.Revision == st.To {
			return false
		}
	}
	return true
}

// steady keeps the stable revision at full size and warm revisions up until their window ends.
func (st *State) steady(out Output) Output {
	out.Replicas = map[int]int{}
	for _, w := range st.Warm {
		out.Replicas[w.Revision] = st.Replicas
	}
	if st.Stable != 0 {
		out.Replicas[st.Stable] = st.Replicas
		out.Splits = []route.Split{{Revision: st.Stable, Weight: 100}}
	}
	return out
}

// hold keeps everything as it is now (during a pause).
func (st *State) hold(out Output) Output {
	out.Replicas = st.warmReplicas()
	switch st.Strategy {
	case "rolling":
		out.Replicas[st.From] = st.OldReplicas
		out.Replicas[st.To] = st.NewReplicas
		out.Splits = st.splitsByReady(st.lastReadyOld(), st.ReadyNew)
	case "blueGreen":
		out.Replicas[st.From] = st.Replicas
		out.Replicas[st.To] = st.Replicas
		out.Splits = st.weighted()
		if st.Step == 0 {
			out.Preview = st.To
		}
	case "canary":
		out.Replicas[st.From] = st.Replicas
		out.Replicas[st.To] = st.canaryReplicas()
		out.Splits = st.weighted()
		out.MatchCanary = true
		out.Preview = st.To
	default:
		out.Replicas[st.To] = st.Replicas
		out.Splits = []route.Split{{Revision: st.To, Weight: 100}}
	}
	delete(out.Replicas, 0)
	return out
}

func (st *State) lastReadyOld() int {
	if st.OldReplicas > 0 {
		return st.OldReplicas
	}
	return 0
}

func (st *State) warmReplicas() map[int]int {
	m := map[int]int{}
	for _, w := range st.Warm {
		if w.Revision != st.From && w.Revision != st.To {
			m[w.Revision] = st.Replicas
		}
	}
	return m
}

func (st *State) pruneWarm(now time.Time) {
	kept := st.Warm[:0]
	for _, w := range st.Warm {
		if now.Before(w.Until) && w.Revision != st.Stable {
			kept = append(kept, w)
		}
	}
	st.Warm = kept
}

// weighted splits traffic between From and To by st.Weight.
func (st *State) weighted() []route.Split {
	if st.From == 0 {
		return []route.Split{{Revision: st.To, Weight: 100}}
	}
	if st.Weight <= 0 {
		return []route.Split{{Revision: st.From, Weight: 100}}
	}
	if st.Weight >= 100 {
		return []route.Split{{Revision: st.To, Weight: 100}}
	}
	return []route.Split{{Revision: st.From, Weight: 100 - st.Weight}, {Revision: st.To, Weight: st.Weight}}
}

// splitsByReady shares traffic in proportion to ready instances, as a rolling update does.
func (st *State) splitsByReady(oldReady, newReady int) []route.Split {
	switch {
	case st.From == 0 || (oldReady == 0 && newReady > 0):
		return []route.Split{{Revision: st.To, Weight: 100}}
	case newReady == 0:
		return []route.Split{{Revision: st.From, Weight: 100}}
	}
	w := (100*newReady + (oldReady+newReady)/2) / (oldReady + newReady)
	st.Weight = w
	return st.weighted()
}

// initial brings the first revision of an app up; there is nothing to shift traffic from.
func (st *State) initial(in Input, out Output) Output {
	ready := in.Obs.Available[st.To]
	st.NewReplicas = st.Replicas
	st.noteProgress(in, ready)
	out.Replicas = map[int]int{st.To: st.Replicas}
	out.Splits = []route.Split{{Revision: st.To, Weight: 100}}
	if ready >= st.Replicas {
		return st.complete(in.Now, out, fmt.Sprintf("revision %d is serving with %d instances", st.To, st.Replicas))
	}
	if st.overDeadline(in) {
		st.Phase = Failed
		st.finish(in.Now, fmt.Sprintf("revision %d: %d of %d instances ready after %s (progressDeadline); check `tend logs %s`",
			st.To, ready, st.Replicas, in.Spec.Strategy.ProgressDeadline, st.App))
		out.Replicas = map[int]int{}
		out.Splits = nil
		out.Events = append(out.Events, st.Message)
	}
	return out
}

// rolling replaces instances a few at a time within maxSurge and maxUnavailable.
func (st *State) rolling(in Input, out Output) Output {
	r := in.Spec.Strategy.Rolling
	if r == nil {
		r = &spec.Rolling{MaxSurge: spec.IntOrPercent{Value: 25, Percent: true}}
	}
	n := st.Replicas
	surge := r.MaxSurge.Of(n, true)
	unavailable := r.MaxUnavailable.Of(n, false)
	if surge == 0 && unavailable == 0 {
		surge = 1
	}
	newAvail := in.Obs.Available[st.To]
	oldAvail := min(in.Obs.Available[st.From], st.OldReplicas)
	// scale up the new revision within the surge
	if up := min(n, n+surge-st.OldReplicas); up > st.NewReplicas {
		st.NewReplicas = up
	}
	// scale down the old revision as far as availability allows
	if canRemove := oldAvail + min(newAvail, st.NewReplicas) - (n - unavailable); canRemove > 0 && st.OldReplicas > 0 {
		st.OldReplicas = max(0, st.OldReplicas-canRemove)
		st.ProgressAt = in.Now
		// the freed surge lets the new revision grow again at once
		if up := min(n, n+surge-st.OldReplicas); up > st.NewReplicas {
			st.NewReplicas = up
		}
	}
	st.noteProgress(in, newAvail)
	readyOld := min(in.Obs.Ready[st.From], st.OldReplicas)
	out.Replicas = st.warmReplicas()
	out.Replicas[st.From] = st.OldReplicas
	out.Replicas[st.To] = st.NewReplicas
	out.Splits = st.splitsByReady(readyOld, min(in.Obs.Ready[st.To], st.NewReplicas))
	st.Message = fmt.Sprintf("rolling: %d/%d new ready, %d old left", newAvail, n, st.OldReplicas)
	if newAvail >= n && st.OldReplicas == 0 {
		out.Replicas[st.To] = n
		out.Splits = []route.Split{{Revision: st.To, Weight: 100}}
		return st.complete(in.Now, out, fmt.Sprintf("revision %d replaced revision %d", st.To, st.From))
	}
	if st.overDeadline(in) {
		return st.startRevert(in, out, fmt.Sprintf("revision %d: %d of %d instances available after %s (progressDeadline)%s",
			st.To, newAvail, n, in.Spec.Strategy.ProgressDeadline, in.Obs.why(st.To)))
	}
	return out
}

// blueGreen brings the new revision up at full size beside the old and switches at once.
func (st *State) blueGreen(in Input, out Output) Output {
	bg := in.Spec.Strategy.BlueGreen
	n := st.Replicas
	avail := in.Obs.Available[st.To]
	st.noteProgress(in, avail)
	out.Replicas = st.warmReplicas()
	out.Replicas[st.From] = n
	out.Replicas[st.To] = n
	out.Splits = []route.Split{{Revision: st.From, Weight: 100}}
	out.Preview = st.To
	if avail < n {
		st.Message = fmt.Sprintf("blue-green: %d/%d of revision %d ready (preview it with the header tend status shows)", avail, n, st.To)
		if st.overDeadline(in) {
			return st.startRevert(in, out, fmt.Sprintf("revision %d: %d of %d instances available after %s (progressDeadline)%s",
				st.To, avail, n, in.Spec.Strategy.ProgressDeadline, in.Obs.why(st.To)))
		}
		st.StepStarted = in.Now
		return out
	}
	if bg != nil && bg.Analysis != nil && !st.passedStep(0) {
		if in.Verdict == nil {
			out.Analyze = mergeAnalysis(bg.Analysis, nil)
			st.ProgressAt = in.Now
			st.Message = fmt.Sprintf("blue-green: analysing revision %d before the switch; it gets only preview traffic (the header tend status shows) and analysis.load", st.To)
			return out
		}
		v := *in.Verdict
		v.Step = 0
		st.Verdicts = append(st.Verdicts, v)
		out.Events = append(out.Events, fmt.Sprintf("blue-green pre-promotion analysis %s: %s", v.Result, v.Message))
		switch {
		case v.Result == "fail" && bg.Analysis.OnFailure != "pause":
			return st.startRevert(in, out, "pre-promotion analysis failed: "+v.Message)
		case v.Result != "pass":
			st.Phase = Paused
			st.PauseUntil = time.Time{}
			st.Message = fmt.Sprintf("pre-promotion analysis %s: %s; paused: `tend promote %s` switches, `tend abort %s` gives up", v.Result, v.Message, st.App, st.App)
			return out
		}
		st.StepStarted = in.Now // autoPromoteDelay counts from the verdict
	}
	if bg == nil || !bg.AutoPromote {
		st.Phase = Paused
		st.PauseUntil = time.Time{}
		st.Message = fmt.Sprintf("revision %d is ready beside revision %d; preview it with the header tend status %s shows, then run `tend promote %s`",
			st.To, st.From, st.App, st.App)
		out.Events = append(out.Events, st.Message)
		return out
	}
	if in.Now.Sub(st.StepStarted) < bg.AutoPromoteDelay {
		st.Message = fmt.Sprintf("blue-green: revision %d ready; switching in %s", st.To, (bg.AutoPromoteDelay - in.Now.Sub(st.StepStarted)).Round(time.Second))
		return out
	}
	return st.switchTraffic(in.Now, out)
}

// switchTraffic sends all traffic to To at once and keeps From warm.
func (st *State) switchTraffic(now time.Time, out Output) Output {
	st.Step = 1
	st.Weight = 100
	out.Splits = []route.Split{{Revision: st.To, Weight: 100}}
	out.Preview = 0
	return st.complete(now, out, fmt.Sprintf("switched all traffic from revision %d to revision %d", st.From, st.To))
}

// canaryReplicas is how many instances the canary needs for the current weight.
func (st *State) canaryReplicas() int {
	n := (st.Replicas*st.Weight + 99) / 100
	return max(1, min(n, st.Replicas))
}

// canary walks the steps: weights, pauses and analyses, then promotes.
func (st *State) canary(in Input, out Output) Output {
	c := in.Spec.Strategy.Canary
	var steps []spec.CanaryStep
	if c != nil {
		steps = c.Steps
	}
	out.Replicas = st.warmReplicas()
	out.Replicas[st.From] = st.Replicas
	out.MatchCanary = true
	out.Preview = st.To // the preview token reaches the canary whatever its weight (analysis.load uses it)
	for st.Step < len(steps) {
		s := steps[st.Step]
		switch {
		case s.Weight != nil:
			prevWeight := st.Weight
			st.Weight = *s.Weight
			need := st.canaryReplicas()
			avail := in.Obs.Available[st.To]
			st.noteProgress(in, avail)
			if avail < need {
				st.Weight = prevWeight
				out.Replicas[st.To] = max(need, st.canaryReplicas())
				out.Splits = st.weighted()
				st.Message = fmt.Sprintf("canary step %d/%d: waiting for %d/%d canary instances before weight %d%%", st.Step+1, len(steps), avail, need, *s.Weight)
				if st.overDeadline(in) {
					return st.startRevert(in, out, fmt.Sprintf("canary revision %d: %d of %d instances available after %s (progressDeadline)%s",
						st.To, avail, need, in.Spec.Strategy.ProgressDeadline, in.Obs.why(st.To)))
				}
				return out
			}
			out.Events = append(out.Events, fmt.Sprintf("canary step %d/%d: weight %d%%", st.Step+1, len(steps), st.Weight))
			st.nextStep(in.Now)
		case s.Pause != nil:
			if s.Pause.Duration == 0 {
				st.Phase = Paused
				st.PauseUntil = time.Time{}
				st.Message = fmt.Sprintf("canary step %d/%d: paused at weight %d%%; run `tend promote %s` to go on", st.Step+1, len(steps), st.Weight, st.App)
			} else {
				st.Phase = Paused
				st.PauseUntil = st.StepStarted.Add(s.Pause.Duration)
				st.Message = fmt.Sprintf("canary step %d/%d: pause %s at weight %d%%", st.Step+1, len(steps), s.Pause.Duration, st.Weight)
			}
			out.Events = append(out.Events, st.Message)
			return st.hold(out)
		case s.Analysis != nil:
			if in.Verdict == nil {
				out.Analyze = mergeAnalysis(c.Analysis, s.Analysis)
				out.Replicas[st.To] = st.canaryReplicas()
				out.Splits = st.weighted()
				st.Message = fmt.Sprintf("canary step %d/%d: analysing at weight %d%%", st.Step+1, len(steps), st.Weight)
				st.ProgressAt = in.Now
				return out
			}
			v := *in.Verdict
			v.Step = st.Step
			st.Verdicts = append(st.Verdicts, v)
			out.Events = append(out.Events, fmt.Sprintf("canary step %d/%d: analysis %s: %s", st.Step+1, len(steps), v.Result, v.Message))
			switch v.Result {
			case "pass":
				st.nextStep(in.Now)
			case "fail":
				if a := mergeAnalysis(c.Analysis, s.Analysis); a.OnFailure == "pause" {
					st.Phase = Paused
					st.Message = "analysis failed: " + v.Message + fmt.Sprintf("; paused: `tend promote %s` to go on or `tend abort %s`", st.App, st.App)
					return st.hold(out)
				}
				return st.startRevert(in, out, "analysis failed: "+v.Message)
			default:
				st.Phase = Paused
				st.Message = "analysis inconclusive: " + v.Message + fmt.Sprintf("; paused: `tend promote %s` to go on or `tend abort %s`", st.App, st.App)
				return st.hold(out)
			}
		default:
			st.nextStep(in.Now)
		}
	}
	// all steps done: bring the canary to full size, then send it all traffic
	avail := in.Obs.Available[st.To]
	st.noteProgress(in, avail)
	out.Replicas[st.To] = st.Replicas
	out.Splits = st.weighted()
	if avail < st.Replicas {
		st.Message = fmt.Sprintf("canary promoted: %d/%d instances of revision %d ready", avail, st.Replicas, st.To)
		if st.overDeadline(in) {
			return st.startRevert(in, out, fmt.Sprintf("revision %d: %d of %d instances available after %s (progressDeadline)%s",
				st.To, avail, st.Replicas, in.Spec.Strategy.ProgressDeadline, in.Obs.why(st.To)))
		}
		return out
	}
	return st.switchTraffic(in.Now, out)
}

// passedStep reports whether an analysis of step already passed in this rollout.
func (st *State) passedStep(step int) bool {
	for _, v := range st.Verdicts {
		if v.Step == step && v.Result == "pass" {
			return true
		}
	}
	return false
}

func (st *State) nextStep(now time.Time) {
	st.Step++
	st.StepStarted = now
	st.ProgressAt = now
}

// StepAnalysis is the analysis a canary step runs: the step's own, with the canary's
// defaults where it leaves a field zero.
func StepAnalysis(def, step *spec.Analysis) *spec.Analysis { return mergeAnalysis(def, step) }

// mergeAnalysis fills a step's analysis from the canary's defaults: a field the step
// leaves zero takes the canary-wide value.
func mergeAnalysis(def, step *spec.Analysis) *spec.Analysis {
	a := spec.Analysis{}
	if def != nil {
		a = *def
	}
	if step != nil {
		pick := func(dst *int, v int) {
			if v != 0 {
				*dst = v
			}
		}
		if step.Interval != 0 {
			a.Interval = step.Interval
		}
		pick(&a.Count, step.Count)
		pick(&a.FailureLimit, step.FailureLimit)
		pick(&a.InconclusiveLimit, step.InconclusiveLimit)
		pick(&a.MinRequests, step.MinRequests)
		if len(step.Checks) > 0 {
			a.Checks = step.Checks
		}
		if step.OnFailure != "" {
			a.OnFailure = step.OnFailure
		}
		if step.Load != nil {
			a.Load = step.Load
		}
	}
	if a.OnFailure == "" {
		a.OnFailure = "rollback"
	}
	return &a
}

// noteProgress moves the deadline clock when more instances of To became available.
func (st *State) noteProgress(in Input, avail int) {
	if avail > st.ReadyNew {
		st.ProgressAt = in.Now
	}
	st.ReadyNew = avail
}

func (st *State) overDeadline(in Input) bool {
	d := in.Spec.Strategy.ProgressDeadline
	return d > 0 && in.Now.Sub(st.ProgressAt) > d
}

// startRevert gives up on To and brings From back to full size.
func (st *State) startRevert(in Input, out Output, why string) Output {
	out.Events = append(out.Events, "rollout failed: "+why)
	if st.From == 0 {
		st.Phase = Failed
		st.finish(in.Now, why)
		out.Replicas = st.warmReplicas()
		out.Splits = nil
		return out
	}
	st.Phase = Reverting
	st.Message = why + fmt.Sprintf("; going back to revision %d", st.From)
	return st.revert(in, out)
}

// revert keeps whatever of To is ready serving until From is back at full size.
func (st *State) revert(in Input, out Output) Output {
	n := st.Replicas
	oldAvail := in.Obs.Available[st.From]
	out.Replicas = st.warmReplicas()
	out.Replicas[st.From] = n
	if oldAvail >= n {
		st.Phase = RolledBack
		st.Weight = 0
		st.Stable = st.From
		st.finish(in.Now, st.Message)
		out.Splits = []route.Split{{Revision: st.From, Weight: 100}}
		out.Events = append(out.Events, fmt.Sprintf("revision %d is serving again", st.From))
		return out
	}
	keep := min(in.Obs.Ready[st.To], n)
	out.Replicas[st.To] = keep
	out.Splits = st.splitsByReady(in.Obs.Ready[st.From], keep)
	return out
}

func (st *State) complete(now time.Time, out Output, msg string) Output {
	// only the revision just replaced stays warm: older warm ones stop now
	st.Warm = nil
	if st.From != 0 && st.From != st.To && st.Strategy != "rolling" {
		st.Warm = []Warm{{Revision: st.From, Until: now.Add(st.RollbackWindow)}}
	}
	st.Phase = Completed
	st.Stable = st.To
	st.Weight = 100
	st.finish(now, msg)
	out.Events = append(out.Events, msg)
	return out
}

func (st *State) finish(now time.Time, msg string) {
	t := now
	st.FinishedAt = &t
	st.Message = msg
	st.PauseUntil = time.Time{}
}

// Errors returned by the commands.
var (
	ErrNoRollout  = errors.New("no rollout in progress")
	ErrNotPaused  = errors.New("the rollout is not paused")
	ErrNotReady   = errors.New("the new revision is not ready yet")
	ErrNotAllowed = errors.New("not allowed in this phase")
)

// Promote moves a paused rollout on: a blue-green rollout switches traffic, a canary goes
// to its next step (or, with full, skips the remaining steps).
func Promote(st *State, full bool, obs Observation, now time.Time) error {
	if st.Phase.Terminal() || st.Phase == Reverting {
		return fmt.Errorf("%w (phase %s)", ErrNoRollout, st.Phase)
	}
	st.ManualPause = false
	switch st.Strategy {
	case "blueGreen":
		if obs.Available[st.To] < st.Replicas {
			return fmt.Errorf("%w: %d of %d instances of revision %d available", ErrNotReady, obs.Available[st.To], st.Replicas, st.To)
		}
		st.switchTraffic(now, Output{})
		return nil
	case "canary":
		if full {
			st.Step = 1 << 20
		} else if st.Phase == Paused {
			st.Step++
		}
		st.Phase = Progressing
		st.PauseUntil = time.Time{}
		st.StepStarted = now
		st.ProgressAt = now
		return nil
	}
	if st.Phase != Paused {
		return ErrNotPaused
	}
	st.Phase = Progressing
	st.ProgressAt = now
	return nil
}

// Abort stops a rollout and sends all traffic back to the stable revision.
func Abort(st *State, now time.Time) error {
	if st.Phase.Terminal() {
		return fmt.Errorf("%w (phase %s)", ErrNoRollout, st.Phase)
	}
	st.Phase = Aborted
	st.Weight = 0
	st.finish(now, fmt.Sprintf("aborted; revision %d serves", st.From))
	return nil
}

// Rollback makes revision to the stable one at once when its instances are still
// running (a warm revision, or the old side of a rollout in progress): a route switch.
// It returns false when to is not running; the caller then starts a normal rollout.
func Rollback(st *State, to int, obs Observation, now time.Time) bool {
	if obs.Available[to] == 0 {
		return false
	}
	if !st.Phase.Terminal() && to == st.From {
		st.Phase = RolledBack
		st.Weight = 0
		st.Stable = st.From
		st.finish(now, fmt.Sprintf("rolled back to revision %d (route switch)", to))
		return true
	}
	warm := false
	for _, w := range st.Warm {
		warm = warm || w.Revision == to
	}
	if !warm && to != st.Stable {
		return false
	}
	prev := st.Stable
	if !st.Phase.Terminal() && st.To != to {
		prev = st.To
	}
	st.Warm = nil
	if prev != 0 && prev != to {
		st.Warm = []Warm{{Revision: prev, Until: now.Add(st.RollbackWindow)}}
	}
	st.From, st.To, st.Stable = prev, to, to
	st.Phase = RolledBack
	st.Weight = 100
	st.finish(now, fmt.Sprintf("rolled back to revision %d (route switch; revision %d kept warm)", to, prev))
	return true
}

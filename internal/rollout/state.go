// Package rollout moves an app from one revision to the next by a strategy (rolling, blue-green, canary) as a resumable state machine.
package rollout

import (
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/spec"
)

// Phase is where a rollout stands.
type Phase string

// Rollout phases. Completed, Failed, RolledBack and Aborted are terminal.
const (
	Progressing Phase = "Progressing"
	Paused      Phase = "Paused"
	Completed   Phase = "Completed"
	// Reverting means the rollout failed and tend is bringing the previous revision back to full size.
	Reverting  Phase = "Reverting"
	RolledBack Phase = "RolledBack"
	Aborted    Phase = "Aborted"
	Failed     Phase = "Failed"
)

// Terminal reports whether no more steps will happen in this phase.
func (p Phase) Terminal() bool {
	switch p {
	case Completed, RolledBack, Aborted, Failed:
		return true
	}
	return false
}

// State is everything needed to resume a rollout after tend restarts; it is stored in
// etcd under store.RolloutKey and changed only by the app's controller loop.
type State struct {
	App      string `json:"app"`
	Strategy string `json:"strategy"` // rolling | blueGreen | canary
	// Stable is the revision that serves when no rollout is in progress.
	Stable int `json:"stable"`
	// From and To are the revisions of the current (or last) rollout; From is 0 on a first deploy.
	From int `json:"from"`
	To   int `json:"to"`
	// Replicas is the instance count the app should have.
	Replicas int   `json:"replicas"`
	Phase    Phase `json:"phase"`
	// Step is the index of the current canary step (or, for blue-green, 0 before and 1 after the switch).
	Step int `json:"step"`
	// Weight is the share of traffic (percent) that To gets now.
	Weight int `json:"weight"`
	// Scaled is, for rolling, how many instances of To and From the rollout asks for now.
	NewReplicas int `json:"newReplicas"`
	OldReplicas int `json:"oldReplicas"`
	// PauseUntil ends a timed pause; zero with Phase Paused waits for Promote.
	PauseUntil time.Time `json:"pauseUntil,omitempty"`
	// ManualPause is set by `tend pause` and cleared by `tend resume`.
	ManualPause bool `json:"manualPause,omitempty"`
	// StepStarted is when the current step began (for analysis windows and pause durations).
	StepStarted time.Time `json:"stepStarted,omitempty"`
	// RollbackWindow is how long From stays warm once the rollout completes.
	RollbackWindow time.Duration `json:"rollbackWindow"`
	// Warm revisions keep their instances until Until so that a rollback is a route switch.
	Warm []Warm `json:"warm,omitempty"`
	// Message says what the rollout is doing or why it stopped.
	Message  string    `json:"message,omitempty"`
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Analysis holds the measurements of the analysis running now (nil when none is).
	Analysis   *Verdict   `json:"analysis,omitempty"`
	StartedAt  time.Time  `json:"startedAt"`
	ProgressAt time.Time  `json:"progressAt"` // last time the rollout made progress (deadline clock)
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Ready and Available instances of To as last observed, for progress displays.
	ReadyNew int `json:"readyNew"`
	// PreviewToken is the secret a client sends as header X-Tend-Preview to reach To
	// before it is promoted (blue-green's preview, a canary whatever its weight): a new
	// one for every rollout, so that an old link stops working.
	PreviewToken string `json:"previewToken,omitempty"`
}

// Warm is a previous revision kept running after a rollout.
type Warm struct {
	Revision int       `json:"revision"`
	Until    time.Time `json:"until"`
}

// Verdict is the outcome of one analysis run, with the numbers behind it.
type Verdict struct {
	Step    int       `json:"step"`
	At      time.Time `json:"at"`
	Result  string    `json:"result"` // pass | fail | inconclusive
	Message string    `json:"message"`
	// Measurements are the analysis' measurements in order, the last one deciding.
	Measurements []Measurement `json:"measurements,omitempty"`
}

// Measurement is one round of an analysis' checks.
type Measurement struct {
	At time.Time `json:"at"`
	// Result is pass, fail, inconclusive, or waiting (too little data yet: not counted).
	Result  string `json:"result"`
	Message string `json:"message"`
	// Requests is how many requests the canary served in the window; Needed how many it must.
	Requests float64       `json:"requests"`
	Needed   int           `json:"needed"`
	Checks   []CheckResult `json:"checks"`
	// Score is the baseline comparison's score (0..100) when one was made.
	Score *float64 `json:"score,omitempty"`
}

// CheckResult is one check's value and why it passed or not.
type CheckResult struct {
	Name   string   `json:"name"`
	Result string   `json:"result"` // pass | fail | nodata
	Value  *float64 `json:"value,omitempty"`
	// Stable is the same value for the stable revision over the same window.
	Stable    *float64 `json:"stable,omitempty"`
	Threshold string   `json:"threshold,omitempty"`
	// Class, PValue and Shift are the baseline comparison's (Pass, High, Low, NoData).
	Class  string   `json:"class,omitempty"`
	PValue *float64 `json:"pValue,omitempty"`
	Reason string   `json:"reason"`
}

// AnalysisRequest names what to analyse: the canary revision against the stable one,
// from when the step started, with what the step's analysis says.
type AnalysisRequest struct {
	App      string
	Stable   int
	Canary   int
	Started  time.Time
	Deadline time.Duration // progressDeadline: waiting for data longer than this is inconclusive
	Route    spec.Route
	Analysis *spec.Analysis
	// PreviewToken reaches the canary whatever its weight, for analysis.load.
	PreviewToken string
	// Report receives each measurement as it is made (may be nil).
	Report func(Measurement)
}

// Observation is what the runtime reports about an app's instances, by revision.
type Observation struct {
	// Ready counts instances passing readiness; Available those ready for at least minReady.
	Ready     map[int]int
	Available map[int]int
	// Total counts every instance, whatever its state.
	Total map[int]int
	// Why says, per revision, why its instances are not available: what a not-ready
	// instance reports, or the runtime when there is no instance to ask.
	Why map[int]string
	// Restarts counts the restarts of a revision's instances; LastExit is how one of
	// them last ended (its message).
	Restarts map[int]int
	LastExit map[int]string
}

// why is the reason the revision's instances give for not being available, as ": reason".
func (o Observation) why(rev int) string {
	if w := o.Why[rev]; w != "" {
		return ": " + w
	}
	return ""
}

// Decision is what the controller must make true: instances per revision (revisions not
// listed go to zero), and the traffic split.
type Decision struct {
	Replicas map[int]int
	Splits   []route.Split
	// Preview is the revision reached with header X-Tend-Preview: the rollout's token (0: none).
	Preview int
	// MatchCanary sends requests matching the canary rules to To.
	MatchCanary bool
}

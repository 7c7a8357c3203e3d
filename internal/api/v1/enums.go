package v1

// Strategy is how a rollout replaces one revision with another.
type Strategy string

// Strategies.
const (
	Rolling   Strategy = "rolling"   // a few instances at a time
	BlueGreen Strategy = "blueGreen" // the new revision at full size beside the old, then a switch
	Canary    Strategy = "canary"    // traffic moves in steps
	// Initial is the strategy of an app's first rollout, which has no revision to
	// replace: a Rollout has it, an App never.
	Initial Strategy = "initial"
)

// Phase is where a rollout is.
type Phase string

// Rollout phases; Completed, RolledBack, Aborted and Failed are terminal.
const (
	Progressing Phase = "Progressing" // moving towards the new revision
	Paused      Phase = "Paused"      // waiting: a pause step, `tend pause`, or an inconclusive analysis
	Completed   Phase = "Completed"   // the new revision serves everything
	Reverting   Phase = "Reverting"   // going back to the stable revision after a failure
	RolledBack  Phase = "RolledBack"  // the stable revision serves everything again
	Aborted     Phase = "Aborted"     // `tend abort`: the stable revision serves everything
	Failed      Phase = "Failed"      // could not go on nor back
)

// Terminal reports whether a rollout in phase p is over.
func (p Phase) Terminal() bool {
	switch p {
	case Completed, RolledBack, Aborted, Failed:
		return true
	}
	return false
}

// Result is the verdict of an analysis run or of one of its measurements.
type Result string

// Analysis results.
const (
	Pass         Result = "pass"         // the canary is as good as required: the rollout goes on
	Fail         Result = "fail"         // it is not: the rollout goes back (or pauses, with onFailure: pause)
	Inconclusive Result = "inconclusive" // could not tell: the rollout pauses for a person
	Waiting      Result = "waiting"      // a measurement with too little canary traffic to judge; it does not count
)

// CheckResult is the outcome of one check in a measurement.
type CheckResult string

// Check results.
const (
	CheckPass   CheckResult = "pass"
	CheckFail   CheckResult = "fail"
	CheckNoData CheckResult = "nodata" // the query returned nothing to compare
)

// InstanceState is where an instance is in its life.
type InstanceState string

// Instance states.
const (
	Starting InstanceState = "starting" // started, not ready yet
	Ready    InstanceState = "ready"    // passing readiness; the gateway sends it requests
	Unready  InstanceState = "unready"  // was ready, readiness now failing
	Stopping InstanceState = "stopping" // draining and being stopped
	Backoff  InstanceState = "backoff"  // exited or failed to start; waiting to be restarted
)

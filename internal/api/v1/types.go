package v1

import "time"

// App answers GET /v1/apps/{app}; GET /v1/apps lists them.
type App struct {
	App       string   `json:"app"`
	Strategy  Strategy `json:"strategy"`
	Instances int      `json:"instances"`
	Hosts     []string `json:"hosts,omitempty"`
	Path      string   `json:"pathPrefix"`
	Rollout   Rollout  `json:"rollout"`
	// Current is the stable revision, with the app's spec as it is now.
	Current *Revision  `json:"revision,omitempty"`
	Running []Instance `json:"running"`
	// Maintenance is set while `tend maintenance APP on` holds (the gateway answers 503).
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// Autoscale is set for an app with autoscale: in its spec.
	Autoscale *Autoscale `json:"autoscale,omitempty"`
	// Sizing is resources advice from the app's usage (one app's status only).
	Sizing *Sizing `json:"sizing,omitempty"`
}

// Rollout is an app's current or last rollout, from revision From to revision To.
type Rollout struct {
	App string `json:"app"`
	// Strategy is absent for an app that was never rolled out.
	Strategy Strategy `json:"strategy,omitempty"`
	// Stable is the revision that serves when no rollout runs.
	Stable int `json:"stable"`
	From   int `json:"from"`
	To     int `json:"to"`
	// Replicas is the app's instance count.
	Replicas int   `json:"replicas"`
	Phase    Phase `json:"phase"`
	// Step is the canary step (0-based) the rollout is at.
	Step int `json:"step"`
	// Weight is the percentage of traffic To gets.
	Weight      int `json:"weight"`
	NewReplicas int `json:"newReplicas"`
	OldReplicas int `json:"oldReplicas"`
	ReadyNew    int `json:"readyNew"`
	// PauseUntil is when a timed pause ends; absent for a pause that waits for `tend promote`.
	PauseUntil  time.Time `json:"pauseUntil,omitzero"`
	ManualPause bool      `json:"manualPause,omitempty"`
	StepStarted time.Time `json:"stepStarted,omitzero"`
	// RollbackWindow is how long the previous revision stays warm after a rollout.
	RollbackWindow Duration `json:"rollbackWindow"`
	Warm           []Warm   `json:"warm,omitempty"`
	Message        string   `json:"message,omitempty"`
	// Verdicts are the finished analysis runs; Analysis the one running now.
	Verdicts   []Verdict `json:"verdicts,omitempty"`
	Analysis   *Verdict  `json:"analysis,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	ProgressAt time.Time `json:"progressAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// PreviewToken, as the X-Tend-Preview header, reaches To before it is promoted.
	PreviewToken string `json:"previewToken,omitempty"`
	// Steps are the canary steps of revision To, in order: Step is the index of the one the
	// rollout is at. Absent for the other strategies (and in the stream of a deploy).
	Steps []CanaryStep `json:"steps,omitempty"`
}

// CanaryStep is one step of a canary rollout: exactly one of Weight, Pause and Analysis.
type CanaryStep struct {
	// Weight is the percentage of traffic the canary gets from this step on.
	Weight *int `json:"weight,omitempty"`
	// Pause is a wait step.
	Pause *PauseStep `json:"pause,omitempty"`
	// Analysis is an analysis step, with the canary's defaults filled in.
	Analysis *AnalysisStep `json:"analysis,omitempty"`
}

// PauseStep is a canary step that waits.
type PauseStep struct {
	// Duration is how long it waits; absent for a pause that waits for `tend promote`.
	Duration Duration `json:"duration,omitzero"`
}

// AnalysisStep is a canary step that judges the canary before it goes on.
type AnalysisStep struct {
	// Checks are the names of its checks (error-rate, latency-p95, a custom query's name).
	Checks []string `json:"checks"`
	// Interval is the time between two measurements, Count how many it takes.
	Interval Duration `json:"interval"`
	Count    int      `json:"count"`
}

// Warm is a previous revision kept running for a quick rollback, until Until.
type Warm struct {
	Revision int       `json:"revision"`
	Until    time.Time `json:"until"`
}

// Verdict is one analysis run: its result and the measurements that led to it.
type Verdict struct {
	Step         int           `json:"step"`
	At           time.Time     `json:"at,omitzero"`
	Result       Result        `json:"result,omitempty"`
	Message      string        `json:"message,omitempty"`
	Measurements []Measurement `json:"measurements,omitempty"`
}

// Measurement is one evaluation of an analysis's checks.
type Measurement struct {
	At      time.Time `json:"at"`
	Result  Result    `json:"result"`
	Message string    `json:"message,omitempty"`
	// Requests is the canary's request count over the window; Needed the count to judge.
	Requests float64 `json:"requests"`
	Needed   int     `json:"needed"`
	Checks   []Check `json:"checks"`
	// Score is the baseline comparison's score, 0 to 100, when the analysis has one.
	Score *float64 `json:"score,omitempty"`
}

// Check is one check of a measurement: the canary's value against a threshold and the
// stable revision's value.
type Check struct {
	Name      string      `json:"name"`
	Result    CheckResult `json:"result"`
	Value     *float64    `json:"value,omitempty"`
	Stable    *float64    `json:"stable,omitempty"`
	Threshold string      `json:"threshold,omitempty"`
	// Class is the baseline comparison's (Pass, High, Low, NoData), PValue its p-value.
	Class  string   `json:"class,omitempty"`
	PValue *float64 `json:"pValue,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// Instance is one running copy of a revision.
type Instance struct {
	ID        string        `json:"id"`
	App       string        `json:"app"`
	Revision  int           `json:"revision"`
	Addr      string        `json:"addr"`
	AdminAddr string        `json:"adminAddr,omitempty"`
	PID       int           `json:"pid,omitempty"`
	State     InstanceState `json:"state"`
	Restarts  int           `json:"restarts"`
	StartedAt time.Time     `json:"startedAt,omitzero"`
	// ReadySince is when the instance last became ready; absent when it is not.
	ReadySince time.Time `json:"readySince,omitzero"`
	Message    string    `json:"message,omitempty"`
	// Limits says whether resource limits are enforced ("enforced: cgroup v2") or why not.
	Limits string `json:"limits,omitempty"`
}

// Revision is an immutable, numbered build of an app.
type Revision struct {
	App    string `json:"app"`
	Number int    `json:"number"`
	// Artifact is the executable's content digest; Path where it is (relative: in the
	// data dir), or the image reference on Kubernetes.
	Artifact  string `json:"artifact"`
	Path      string `json:"path"`
	Version   string `json:"version,omitempty"`
	Commit    string `json:"commit,omitempty"`
	BuildTime string `json:"buildTime,omitempty"`
	// ConfigHash covers what makes instances differ besides the artifact.
	ConfigHash string `json:"configHash"`
	// Spec is the app's tend.yaml as tend read it: the spec's fields, durations as
	// strings, unset ones absent.
	Spec map[string]any `json:"spec"`
	// Secrets are the versions of the secrets it runs with (name → version), never values.
	Secrets map[string]int `json:"secrets,omitempty"`
	// Changes say what differs from the revision before it in the history ("artifact
	// sha256:0d5f6c9e2b3a → sha256:77aa01bc9d3e", "env LOG_LEVEL: info → debug",
	// "secret db-url v2 → v3"); none for the first.
	Changes   []string  `json:"changes,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Maintenance is an app held in maintenance by `tend maintenance APP on`.
type Maintenance struct {
	Message string `json:"message,omitempty"`
	// RetryAfter is the Retry-After clients get, in seconds (0: none).
	RetryAfter int       `json:"retryAfter,omitempty"`
	Since      time.Time `json:"since"`
}

// History answers GET /v1/apps/{app}/history.
type History struct {
	// Revisions, newest first.
	Revisions []Revision `json:"revisions"`
	Stable    int        `json:"stable"`
	// Events, oldest first.
	Events []Event `json:"events"`
}

// Event is one thing that happened to an app.
type Event struct {
	App      string    `json:"app"`
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // e.g. "rollout.started", "instance.restarted", "build.failed"
	Revision int       `json:"revision,omitempty"`
	Message  string    `json:"message"`
}

// DeployResult ends the stream of POST /v1/deploy.
type DeployResult struct {
	Revision Revision `json:"revision"`
	// Created is false when the same artifact and configuration had a revision already.
	Created bool `json:"created"`
	// Unchanged is true when that revision already serves: nothing rolls out.
	Unchanged bool `json:"unchanged"`
	// DryRun is true when nothing was recorded: Revision is what a deploy would roll out
	// (number 0: a new revision), Serving the revision it would replace (0: none) and
	// Changes what would differ from it (empty: nothing).
	DryRun  bool     `json:"dryRun,omitempty"`
	Serving int      `json:"serving,omitempty"`
	Changes []string `json:"changes,omitempty"`
}

// Route answers GET /v1/gateway (a list): how the gateway routes an app now.
type Route struct {
	App string `json:"app"`
	// Hosts are the Host names the route answers (wildcards as "*.example.com"); absent:
	// every host no other app claims.
	Hosts      []string   `json:"hosts,omitempty"`
	PathPrefix string     `json:"pathPrefix"`
	Splits     []Split    `json:"splits,omitempty"`
	Endpoints  []Endpoint `json:"endpoints"`
}

// Split is the share of an app's traffic one revision gets.
type Split struct {
	Revision int `json:"revision"`
	Weight   int `json:"weight"`
}

// Endpoint is one backend the gateway sends an app's requests to.
type Endpoint struct {
	Address  string `json:"address"`
	Revision int    `json:"revision"`
	Instance string `json:"instance"`
	InFlight int64  `json:"inFlight"`
	// Ejected is true while outlier detection keeps it out of rotation.
	Ejected bool `json:"ejected"`
}

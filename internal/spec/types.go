// Package spec defines tend.yaml, the file that describes an app, and loads it with line-accurate errors.
package spec

import (
	"path/filepath"
	"time"

	"github.com/tendhq/tend/internal/yamldoc"
)

// App is one service as its tend.yaml describes it. After Load it carries defaults
// (see defaults.go) and has passed validation.
type App struct {
	// doc is the YAML the spec was parsed from (nil for a spec built in code), for
	// errors found after parsing (FieldError).
	doc       *yamldoc.Doc
	App       string            `json:"app"`
	Build     Build             `json:"build"`
	Instances int               `json:"instances"`
	Route     Route             `json:"route"`
	Env       map[string]string `json:"env,omitempty"`
	// SecretEnv are the variables of env: that hold a secret ({secret: NAME}): variable →
	// secret name. Secrets are the secrets given as variables of their own name. Values
	// are never in the spec: tend secret set keeps them, sealed.
	SecretEnv map[string]string `json:"secretEnv,omitempty"`
	Secrets   []string          `json:"secrets,omitempty"`
	// Files are put in each instance's working dir: config files, secrets' values.
	Files []File `json:"files,omitempty"`
	// Args are the instance's command-line arguments; $PORT, $ADMIN_PORT and the other
	// variables of the instance's environment are expanded in them at start, for
	// programs that take their port as a flag (-port=$PORT).
	Args      []string  `json:"args,omitempty"`
	Health    Health    `json:"health"`
	Resources Resources `json:"resources"`
	Shutdown  Shutdown  `json:"shutdown"`
	Strategy  Strategy  `json:"strategy"`
	// Metrics is where instances serve Prometheus metrics for tend to scrape.
	Metrics Metrics `json:"metrics"`
	// Alerts are the app's own alerting rules and whether tend's built-in alerts apply.
	Alerts Alerts `json:"alerts"`
	// Autoscale, when set, lets tend size the app between its min and max from its
	// metrics; Instances is then the first count only.
	Autoscale *Autoscale `json:"autoscale,omitempty"`
	// Backups are the app's databases and directories tend backs up on schedules.
	Backups []Backup `json:"backups,omitempty"`

	// File is the path the spec was loaded from; Dir is its directory, against
	// which relative paths (build.main, build.binary) resolve. Neither is a YAML field.
	File string `json:"file,omitempty"`
	Dir  string `json:"dir,omitempty"`
	// Root, when set, is the directory a client's upload was unpacked into, each file
	// under its absolute path on the client: Dir is in it, and absolute paths of the
	// spec resolve in it too (App.Path), never elsewhere on the server's disk.
	Root string `json:"root,omitempty"`
}

// Path is where a path of the spec (build.main, a rule file, a file's from, a
// certificate) is: relative to Dir, or absolute. With a Root, it is the path the spec
// meant on the client (relative to the spec file's directory there), in Root: never
// outside it, however many ".." it has.
func (a *App) Path(p string) string {
	switch {
	case p == "":
		return ""
	case a.Root != "":
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(a.File), p)
		}
		// cleaned as an absolute path first, ".." stops at the client's root
		return filepath.Join(a.Root, filepath.Clean(string(filepath.Separator)+p))
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	return filepath.Join(a.Dir, p)
}

// Build says where the app's executable comes from: exactly one of Main or Binary.
type Build struct {
	// Main is a Go main package (directory, relative to the spec file) built with go build.
	Main string `json:"main,omitempty"`
	// Binary is a prebuilt executable, hashed and copied into the artifact store.
	Binary string `json:"binary,omitempty"`
	// Version overrides the version string injected at build time (default: derived from VCS or the source hash).
	Version string `json:"version,omitempty"`
}

// Route says which requests the gateway sends to the app.
type Route struct {
	// Hosts the app answers for; empty means every host no other app claims.
	Hosts []string `json:"hosts,omitempty"`
	// PathPrefix limits the app to paths under it (default "/").
	PathPrefix string `json:"pathPrefix"`
	// MaxBodyBytes bounds a request body (YAML maxBody: 1Mi); over it the client gets
	// 413, before the body is read when its Content-Length says so. 0: no limit.
	MaxBodyBytes int64 `json:"maxBodyBytes,omitempty"`
	// Timeouts override the gateway's defaults for this app.
	Timeouts RouteTimeouts `json:"timeouts,omitzero"`
	// Protocol is what the instances speak: http (HTTP/1.1, the default) or http2 (HTTP/2
	// without TLS, as gRPC servers do).
	Protocol string `json:"protocol,omitempty"`
	// TLS serves the app over HTTPS too (nil: plain HTTP only).
	TLS *TLS `json:"tls,omitempty"`
}

// TLS is how an app is served over HTTPS (YAML tls: auto, or a mapping): with
// certificates from the ACME CA tend server is configured with (Auto), or from the
// user's files (Cert and Key, relative to the spec's directory).
type TLS struct {
	Auto bool   `json:"auto,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// Redirect answers plain HTTP with 308 to HTTPS, ACME challenges excepted (default true).
	Redirect bool `json:"redirect"`
	// HSTS, when set, is the max-age of the Strict-Transport-Security header sent over HTTPS.
	HSTS time.Duration `json:"hsts,omitempty"`
	// OnDemand, with Auto, is the URL of an approval endpoint (http or https): a host the
	// route claims (a wildcard's, or any host no other app claims when Hosts is empty)
	// gets its certificate at its first TLS handshake once GET OnDemand?host=HOST answers
	// 2xx. For hosts not known at deploy time (customers' own domains).
	OnDemand string `json:"onDemand,omitempty"`
}

// RouteTimeouts are the gateway's timeouts for one app; zero means the gateway's default.
type RouteTimeouts struct {
	// Response bounds the wait for an instance's response head (default 60s; 504 after it).
	Response time.Duration `json:"response,omitempty"`
	// Body bounds the wait between two reads of a request body (default 60s; 408 after it).
	Body time.Duration `json:"body,omitempty"`
	// Connect bounds a new connection to an instance (default 2s; another instance, or
	// 502, after it).
	Connect time.Duration `json:"connect,omitempty"`
}

// Health holds the probes tend runs against every instance.
type Health struct {
	Readiness *Probe `json:"readiness,omitempty"`
	Liveness  *Probe `json:"liveness,omitempty"`
}

// Probe checks an instance: an HTTP GET answered 2xx or 3xx (http), a TCP connection
// accepted (tcp), or a gRPC health check answered SERVING (grpc: the standard
// grpc.health.v1 protocol, which gRPC servers speak where an HTTP/1.1 GET gets garbage).
type Probe struct {
	HTTP             string        `json:"http,omitempty"`
	TCP              bool          `json:"tcp,omitempty"`
	GRPC             *GRPCProbe    `json:"grpc,omitempty"`
	Interval         time.Duration `json:"interval"`
	Timeout          time.Duration `json:"timeout"`
	FailureThreshold int           `json:"failureThreshold"`
	SuccessThreshold int           `json:"successThreshold"`
	InitialDelay     time.Duration `json:"initialDelay"`
}

// GRPCProbe asks the instance's grpc.health.v1 service about Service ("" is the whole server).
type GRPCProbe struct {
	Service string `json:"service"`
}

// Resources are per-instance limits, enforced with cgroup v2 where tend can write it.
type Resources struct {
	// MilliCPU is the CPU limit in thousandths of a core (YAML "500m" or "0.5"); 0 means no limit.
	MilliCPU int64 `json:"milliCPU,omitempty"`
	// MemoryBytes is the memory limit (YAML "256Mi"); 0 means no limit.
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
}

// Shutdown governs how an instance is stopped.
type Shutdown struct {
	// Grace is how long an instance has between SIGTERM and SIGKILL.
	Grace time.Duration `json:"grace"`
	// Drain is how long tend waits, after taking an instance out of the gateway, for its
	// in-flight requests to finish before sending SIGTERM.
	Drain time.Duration `json:"drain"`
}

// Strategy says how a new revision replaces the running one. Exactly one of
// Rolling, BlueGreen and Canary is set after Load (Rolling by default).
type Strategy struct {
	Rolling   *Rolling   `json:"rolling,omitempty"`
	BlueGreen *BlueGreen `json:"blueGreen,omitempty"`
	Canary    *Canary    `json:"canary,omitempty"`
	// ProgressDeadline is how long a rollout may go without progress before it fails
	// and tend goes back to the last good revision.
	ProgressDeadline time.Duration `json:"progressDeadline"`
	// RollbackWindow is how long the previous revision's instances stay warm after a
	// rollout completes, so that a rollback is a route switch.
	RollbackWindow time.Duration `json:"rollbackWindow"`
}

// MinReady is how long an instance of the new revision must stay ready, without a
// restart, before the strategy counts it (0: as soon as it is ready).
func (s Strategy) MinReady() time.Duration {
	switch {
	case s.BlueGreen != nil:
		return s.BlueGreen.MinReady
	case s.Canary != nil:
		return s.Canary.MinReady
	case s.Rolling != nil:
		return s.Rolling.MinReady
	}
	return 0
}

// Kind names the strategy that is set: "rolling", "blueGreen" or "canary".
func (s Strategy) Kind() string {
	switch {
	case s.BlueGreen != nil:
		return "blueGreen"
	case s.Canary != nil:
		return "canary"
	default:
		return "rolling"
	}
}

// Rolling replaces instances a few at a time.
type Rolling struct {
	MaxSurge       IntOrPercent `json:"maxSurge"`
	MaxUnavailable IntOrPercent `json:"maxUnavailable"`
	// MinReady is how long a new instance must stay ready before it counts as available.
	MinReady time.Duration `json:"minReady"`
}

// IntOrPercent is a count ("2") or a percentage of the instance count ("25%").
type IntOrPercent struct {
	Value   int  `json:"value"`
	Percent bool `json:"percent,omitempty"`
}

// Of resolves the value against total instances; percentages round up when roundUp is set, down otherwise.
func (v IntOrPercent) Of(total int, roundUp bool) int {
	if !v.Percent {
		return v.Value
	}
	n := v.Value * total
	if roundUp {
		return (n + 99) / 100
	}
	return n / 100
}

// BlueGreen starts the new revision at full size beside the old, previewable with
// the header X-Tend-Preview: 1, then switches all traffic at once.
type BlueGreen struct {
	// AutoPromote switches as soon as the new revision is fully ready (after AutoPromoteDelay);
	// otherwise the rollout waits for `tend promote`.
	AutoPromote      bool          `json:"autoPromote"`
	AutoPromoteDelay time.Duration `json:"autoPromoteDelay,omitempty"`
	// Analysis, when set, judges the new revision once it is fully ready and before any
	// user traffic reaches it (pre-promotion): it sees only preview traffic (header
	// X-Tend-Preview: 1) and analysis.load, so give it a load.
	Analysis *Analysis `json:"analysis,omitempty"`
	// MinReady is how long a new instance must stay ready before it counts as available.
	MinReady time.Duration `json:"minReady,omitempty"`
}

// Canary moves traffic to the new revision in steps.
type Canary struct {
	Steps []CanaryStep `json:"steps"`
	// MinReady is how long a canary instance must stay ready before a step counts it.
	MinReady time.Duration `json:"minReady,omitempty"`
	// Match sends requests that match any rule to the canary whatever the weight.
	Match []Match `json:"match,omitempty"`
	// Analysis holds the defaults for analysis steps.
	Analysis *Analysis `json:"analysis,omitempty"`
	// Mirror is the percentage of the stable revision's GET and HEAD requests that the
	// gateway also sends to the canary while the canary runs; the canary's answers are
	// discarded and counted apart (tend_gateway_mirrored_requests_total).
	Mirror int `json:"mirror,omitempty"`
}

// CanaryStep is exactly one of: a traffic weight, a pause, or an analysis.
type CanaryStep struct {
	// Weight is the percentage (0..100) of traffic for the canary.
	Weight *int `json:"weight,omitempty"`
	// Pause waits; a nil Duration inside waits until `tend promote`.
	Pause *Pause `json:"pause,omitempty"`
	// Analysis runs checks against the canary; its verdict continues, pauses or rolls back.
	Analysis *Analysis `json:"analysis,omitempty"`
}

// Pause is a wait step: YAML "pause: 1m" or "pause: {duration: 1m}" waits that long,
// "pause: {}" waits for `tend promote`.
type Pause struct {
	Duration time.Duration `json:"duration,omitempty"`
}

// Alerts are Prometheus rule files of an app: YAML "alerts: [./rules.yaml]", or
// "alerts: {rules: [./rules.yaml], builtin: false}" to switch tend's built-in alerts off
// for this app.
type Alerts struct {
	// Rules are rule files in Prometheus' format, relative to the spec's directory.
	Rules []string `json:"rules,omitempty"`
	// NoBuiltin switches tend's built-in alerts off for this app (YAML builtin: false).
	NoBuiltin bool `json:"noBuiltin,omitempty"`
	// RuleFiles are the rule files as the server read them at deploy time (not YAML).
	RuleFiles []RuleFile `json:"ruleFiles,omitempty"`
}

// RuleFile is one rule file's path and content.
type RuleFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Metrics says where an instance serves Prometheus metrics.
type Metrics struct {
	// Path of the metrics endpoint (default /metrics); "" with Disabled set means none.
	Path string `json:"path"`
	// Port is "admin" (the instance's ADMIN_PORT, where kit serves them; the default) or "app" (PORT).
	Port     string `json:"port"`
	Disabled bool   `json:"disabled,omitempty"`
}

// Analysis describes checks judged during a canary. Fields left zero in a step take
// their value from Canary.Analysis (see defaults.go for the rest). Its semantics follow
// Argo Rollouts' AnalysisRun: a measurement every Interval, Count of them; the analysis
// fails once more than FailureLimit measurements failed and is inconclusive once more
// than InconclusiveLimit were; otherwise it passes after Count measurements.
type Analysis struct {
	Interval          time.Duration `json:"interval,omitempty"`
	Count             int           `json:"count,omitempty"`
	FailureLimit      int           `json:"failureLimit,omitempty"`
	InconclusiveLimit int           `json:"inconclusiveLimit,omitempty"`
	// MinRequests is how many requests the canary must have served in the analysis window
	// before a measurement counts; with fewer it is "waiting for data", never a failure.
	MinRequests int     `json:"minRequests,omitempty"`
	Checks      []Check `json:"checks,omitempty"`
	OnFailure   string  `json:"onFailure,omitempty"` // "rollback" (default) or "pause"
	// Load, when set, sends tend's own requests to the canary during the analysis, for
	// apps too quiet to judge.
	Load *AnalysisLoad `json:"load,omitempty"`
}

// AnalysisLoad is built-in traffic for an analysis.
type AnalysisLoad struct {
	RPS  int    `json:"rps"`
	Path string `json:"path"`
}

// Check is one analysis check: a built-in (error-rate, latency-p99, latency-p95,
// latency-p50) or a PromQL query, judged against thresholds and/or the stable revision.
type Check struct {
	Name string `json:"name"`
	// Query is PromQL for a custom check; $app, $canary and $stable are replaced by the
	// app's name and the two revisions' numbers.
	Query string     `json:"query,omitempty"`
	Max   *Threshold `json:"max,omitempty"`
	Min   *Threshold `json:"min,omitempty"`
	// Baseline compares the canary with the stable revision over the same window
	// (Mann–Whitney U on per-interval values); the canary fails when it is worse than
	// stable by more than Tolerance with the analysis' confidence.
	Baseline bool `json:"baseline,omitempty"`
	// Tolerance is the relative difference to stable that is still a pass (0.2 = 20%).
	Tolerance float64 `json:"tolerance,omitempty"`
}

// Threshold is a limit as written ("1%", "500ms", "3") and its value: a fraction for
// percentages, seconds for durations.
type Threshold struct {
	Text  string  `json:"text"`
	Value float64 `json:"value"`
}

// Built-in analysis checks.
var BuiltinChecks = []string{"error-rate", "latency-p99", "latency-p95", "latency-p50"}

// Match is one rule: a header or a cookie with an exact value.
type Match struct {
	Header map[string]string `json:"header,omitempty"`
	Cookie map[string]string `json:"cookie,omitempty"`
}

// Package runtime defines how tend runs instances of a revision, whatever runs them: local processes or Kubernetes.
package runtime

import (
	"context"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

// Template is everything needed to start an instance of one revision.
type Template struct {
	App      string
	Revision int
	// Artifact is the path of the executable, relative to the data dir when it is in it
	// (process runtime), or an image reference (Kubernetes).
	Artifact string
	Env      map[string]string
	// Secrets are the variables that hold a secret: variable → the secret's name and
	// version. The runtime opens the values at start; they are never in a Template.
	Secrets map[string]SecretRef
	// Files are written to the instance's working dir at each start.
	Files     []File
	Args      []string // with $VAR of the instance's environment expanded at start (secrets excepted)
	Health    spec.Health
	Resources spec.Resources
	Shutdown  spec.Shutdown
}

// File is one file of an instance's working dir: Content (a config file, mode 0444)
// or the value of Secret (mode 0400), opened at start.
type File struct {
	Path    string
	Content string     `json:",omitempty"`
	Secret  *SecretRef `json:",omitempty"`
}

// SecretRef names one version of one of an app's secrets.
type SecretRef struct {
	Name    string
	Version int
}

// SecretVersions is the version of each secret t uses, in variables and files
// (name → version).
func (t Template) SecretVersions() map[string]int {
	out := map[string]int{}
	for _, r := range t.Secrets {
		out[r.Name] = r.Version
	}
	for _, f := range t.Files {
		if f.Secret != nil {
			out[f.Secret.Name] = f.Secret.Version
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Set is the desired number of instances of one revision. Like a ReplicaSet, it is
// the unit the rollout strategies scale up and down.
type Set struct {
	Template
	Replicas int
}

// State is where an instance is in its life.
type State string

// Instance states.
const (
	Starting State = "starting" // process started, not ready yet
	Ready    State = "ready"    // readiness probe passing; registered with the gateway
	Unready  State = "unready"  // was ready, readiness now failing
	Stopping State = "stopping" // draining and being stopped
	Backoff  State = "backoff"  // exited; waiting to be restarted
)

// Instance is one running copy of a revision as the runtime sees it now.
type Instance struct {
	ID       string `json:"id"`
	App      string `json:"app"`
	Revision int    `json:"revision"`
	Addr     string `json:"addr"`
	// AdminAddr is where the instance serves metrics and pprof (its ADMIN_PORT), when known.
	AdminAddr string    `json:"adminAddr,omitempty"`
	PID       int       `json:"pid,omitempty"`
	State     State     `json:"state"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"startedAt"`
	// ReadySince is when the instance last became ready (zero if not ready).
	ReadySince time.Time `json:"readySince,omitempty"`
	// Message explains the state: the last exit status, the failing probe, ...
	Message string `json:"message,omitempty"`
	// Limits says whether Resources are enforced ("enforced: cgroup v2") or "not enforced: <why>".
	Limits string `json:"limits,omitempty"`
}

// Runtime runs instances. Implementations: runtime/process (local supervisor) and,
// later, runtime/kubernetes. A Runtime registers ready instances in the service
// registry and takes them out of it before stopping them.
type Runtime interface {
	// Apply makes the number of instances of set's revision equal set.Replicas, starting
	// new ones or stopping (gracefully, not-ready and newest first) surplus ones. It returns
	// once the change is started; progress is visible through Instances and Subscribe.
	Apply(ctx context.Context, set Set) error
	// Replace starts a new instance of the same revision as instance id, waits until it is
	// ready (or ctx ends), then stops id gracefully. It is the unit of a rolling restart.
	Replace(ctx context.Context, app, id string) error
	// Instances lists the instances of app (all apps when app is "").
	Instances(app string) []Instance
	// Subscribe returns a channel that receives the app's name whenever one of its
	// instances changes state, and a function that unsubscribes.
	Subscribe() (<-chan string, func())
	// Close stops supervising. With stopInstances the instances are stopped gracefully;
	// without, they keep running and a new runtime on the same data dir re-adopts them.
	Close(ctx context.Context, stopInstances bool) error
}

// Explainer is a Runtime that can say why a revision has fewer instances than it asked
// for when no instance can (Kubernetes refusing to create pods: a quota, an admission
// webhook). Explain returns "" when it knows of nothing wrong.
type Explainer interface {
	Explain(app string, revision int) string
}

// Forgetter is a Runtime that keeps objects for a revision beyond its instances (on
// Kubernetes: its Deployment, Secret and ConfigMap). Forget deletes them once tend has
// pruned the revision, which then never runs again.
type Forgetter interface {
	Forget(ctx context.Context, app string, revision int) error
}

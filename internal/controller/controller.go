// Package controller reconciles each app's desired state with what runs: it owns revisions, rollouts and routes.
package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

// Builder turns a spec's build section into an executable artifact.
type Builder interface {
	Build(ctx context.Context, r build.Request, out io.Writer) (build.Artifact, error)
}

// Secrets knows the versions of apps' secrets (package secret's Vault).
type Secrets interface {
	// Current is the newest version of each named secret; one that is not set is a
	// *secret.MissingError.
	Current(ctx context.Context, app string, names []string) (map[string]int, error)
	// Check says whether the given versions are still stored (a *secret.GoneError).
	Check(ctx context.Context, app string, versions map[string]int) error
	// Prune forgets the versions that are neither the newest nor in keep.
	Prune(ctx context.Context, app string, keep map[string]map[int]bool) error
	// Remove deletes every version of a secret.
	Remove(ctx context.Context, app, name string) (bool, error)
	// RemoveAll deletes every secret of the app and says how many versions there were.
	RemoveAll(ctx context.Context, app string) (int, error)
}

// Uploads is where clients' uploads are kept (package upload's Store).
type Uploads interface {
	// Collect removes the uploads whose root no revision in keep was made from and
	// that are older than minAge.
	Collect(keep map[string]bool, minAge time.Duration) (int, error)
}

// Analyzer judges a canary during an analysis step. It blocks for as long as the
// analysis takes (its interval and count), reports each measurement through r.Report,
// and returns the verdict with its reasons.
type Analyzer interface {
	Analyze(ctx context.Context, r rollout.AnalysisRequest) rollout.Verdict
}

// Options wire a controller to the rest of tend.
type Options struct {
	Store   *store.Store
	Runtime runtime.Runtime
	Builder Builder
	// Analyzer runs canary analysis steps; nil makes an analysis step pause the rollout
	// for a manual `tend promote`, saying why.
	Analyzer Analyzer
	Logger   *slog.Logger
	// Tick is how often each app is reconciled when nothing else wakes it (default 500ms).
	Tick time.Duration
	// Registerer receives the rollout and analysis metrics (nil: not exported).
	Registerer prometheus.Registerer
	// CheckRules validates an alerting rule file named in a spec's alerts (nil: not
	// checked); a deploy whose rules do not load changes nothing.
	CheckRules func(name string, content []byte) error
	// HTTPS is true when the gateway has an HTTPS listener (tend server --https): a spec
	// with route.tls is refused without one.
	HTTPS bool
	// DataDir is the server's data dir: revisions keep the path of an artifact built in
	// it relative to it, so that the data dir can move.
	DataDir string
	// Secrets keeps apps' secrets; nil: a spec that uses one is refused.
	Secrets Secrets
	// Uploads keeps the files clients deploy from; the controller removes those no
	// recorded revision was made from (nil: none kept).
	Uploads Uploads
	// Routed returns once the gateway serves the route record b written at key, or ctx
	// ends (nil: not waited for). A route change waits on it, so that a rollout step,
	// and the end a deploy waits for, is reported only when the gateway routes so.
	Routed func(ctx context.Context, key string, b []byte) error
	// Metrics answers the autoscaler's queries (the monitor, or the Prometheus analysis
	// queries); nil: an autoscaled app keeps its count, and its status says why.
	Metrics monitor.Querier
	// CheckQuery validates a PromQL query of a spec's autoscale targets (nil: not
	// checked); a deploy with one that does not parse changes nothing.
	CheckQuery func(q string) error
	// AutoscaleInterval is how often each autoscaled app is sized (default 15s, the HPA's
	// sync period).
	AutoscaleInterval time.Duration
}

// ErrUnknownApp is returned for an app that was never deployed.
var ErrUnknownApp = errors.New("unknown app")

// Controller runs one reconcile loop per app. Every change to an app's rollout goes
// through its loop, so the rollout state has a single writer.
type Controller struct {
	o   Options
	log *slog.Logger

	mu   sync.Mutex
	apps map[string]*appLoop
	// artifacts is read-held from a build until its revision is recorded, and held by
	// artifact collection, so that a fresh artifact is never collected.
	artifacts sync.RWMutex
	ctx       context.Context
	wg        sync.WaitGroup
	ready     chan struct{}
	metrics   *metrics
}

// New returns a controller; call Run to start it.
func New(o Options) *Controller {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Tick <= 0 {
		o.Tick = 500 * time.Millisecond
	}
	if o.AutoscaleInterval <= 0 {
		o.AutoscaleInterval = DefaultAutoscaleInterval
	}
	return &Controller{o: o, log: o.Logger, apps: map[string]*appLoop{}, ready: make(chan struct{}), metrics: newMetrics(o.Registerer)}
}

// Run resumes every app recorded in the store and reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	recs, err := store.List[store.AppRecord](ctx, c.o.Store, store.AppsPrefix)
	if err != nil {
		return fmt.Errorf("load apps: %w", err)
	}
	changes, unsubscribe := c.o.Runtime.Subscribe()
	defer unsubscribe()
	c.mu.Lock()
	c.ctx = ctx
	known := map[string]bool{}
	for _, r := range recs {
		known[r.Spec.App] = true
		if _, err := c.loopLocked(ctx, r.Spec.App); err != nil {
			c.log.Error("resume app", "app", r.Spec.App, "err", err)
		}
	}
	c.mu.Unlock()
	c.stopOrphans(ctx, known)
	close(c.ready)
	for {
		select {
		case <-ctx.Done():
			c.wg.Wait()
			return nil
		case app := <-changes:
			c.mu.Lock()
			l := c.apps[app]
			c.mu.Unlock()
			if l != nil {
				l.poke()
			}
		}
	}
}

// loop returns the app's loop, starting it if needed.
func (c *Controller) loop(app string) (*appLoop, error) {
	select {
	case <-c.ready:
	default:
		return nil, errors.New("controller is starting; try again in a moment")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loopLocked(c.ctx, app)
}

func (c *Controller) loopLocked(ctx context.Context, app string) (*appLoop, error) {
	if l := c.apps[app]; l != nil {
		return l, nil
	}
	l, err := newAppLoop(ctx, c, app)
	if err != nil {
		return nil, err
	}
	c.apps[app] = l
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		l.run(ctx)
	}()
	return l, nil
}

// known says whether app has a loop or a recorded revision (deployed, or deleted with
// its history kept).
func (c *Controller) known(ctx context.Context, app string) bool {
	c.mu.Lock()
	_, running := c.apps[app]
	c.mu.Unlock()
	return running || c.hasRevisions(ctx, app)
}

// existing returns the loop of an app that has been deployed, or ErrUnknownApp.
func (c *Controller) existing(ctx context.Context, app string) (*appLoop, error) {
	var rec store.AppRecord
	if err := c.o.Store.Get(ctx, store.AppKey(app), &rec); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w %q: deploy it first with `tend deploy -f tend.yaml`", ErrUnknownApp, app)
	} else if err != nil {
		return nil, err
	}
	return c.loop(app)
}

// Apps lists the names of every deployed app.
func (c *Controller) Apps(ctx context.Context) ([]string, error) {
	recs, err := store.List[store.AppRecord](ctx, c.o.Store, store.AppsPrefix)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(recs))
	for _, r := range recs {
		names = append(names, r.Spec.App)
	}
	sort.Strings(names)
	return names, nil
}

package controller

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/certs"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// keepRevisions is how many revisions of an app are kept (besides those still running).
const keepRevisions = 10

// InvalidSpecError is returned by Deploy for a spec that does not validate; nothing was changed.
type InvalidSpecError struct{ Err error }

func (e *InvalidSpecError) Error() string { return e.Err.Error() }
func (e *InvalidSpecError) Unwrap() error { return e.Err }

// DeployResult says which revision a deploy rolls out.
type DeployResult struct {
	Revision store.Revision `json:"revision"`
	// Created is false when the same artifact and configuration had a revision already.
	Created bool `json:"created"`
	// Unchanged is true when that revision already serves: nothing rolls out.
	Unchanged bool `json:"unchanged"`
	// DryRun is true when nothing was recorded (Source.DryRun): Revision is what a deploy
	// would roll out (number 0 for a new one), and Serving what it would replace.
	DryRun bool `json:"dryRun,omitempty"`
	// Serving, for a dry run, is the revision that serves now (or that the rollout in
	// progress goes to) with the spec last deployed; nil for an app never deployed.
	Serving *store.Revision `json:"serving,omitempty"`
}

// Source is what a deploy is made from: the spec's text and where its files are.
type Source struct {
	// File is the spec's path, named in messages: on the server's disk, or the client's
	// absolute path of it for an upload.
	File string
	Text []byte
	// Root is the directory a client's upload was unpacked into, every file under its
	// absolute path on the client; "" means the spec's paths are on the server's disk.
	Root string
	// Commit and Describe are the client's git commit and `git describe` of the source
	// (an upload has no .git): the artifact's commit, and its version unless
	// build.version sets one.
	Commit, Describe string
	// Binary, with a Root, is the client path of the executable the client built from
	// build.main: the artifact, instead of a build on the server.
	Binary string
	// ShareHosts lets the spec name hosts other apps serve (an admin's deploy); without
	// it such a deploy is a *HostTakenError.
	ShareHosts bool
	// DryRun checks and builds as a deploy does, and says which revision it would roll
	// out, recording nothing (tend diff, tend deploy --dry-run).
	DryRun bool
}

// Deploy validates the spec in source (named file in messages), builds its artifact
// from paths on the server's disk (streaming build output to out) and starts a rollout
// to the resulting revision. A spec that does not validate or a build that fails
// changes nothing.
func (c *Controller) Deploy(ctx context.Context, file string, source []byte, out io.Writer) (DeployResult, error) {
	return c.DeploySource(ctx, Source{File: file, Text: source, ShareHosts: true}, out)
}

// DeploySource is Deploy from a Source: with a Root, every path of the spec resolves in
// the upload, never elsewhere on the server's disk.
func (c *Controller) DeploySource(ctx context.Context, src Source, out io.Writer) (DeployResult, error) {
	file := src.File
	app, err := spec.Parse(file, src.Text)
	if err != nil {
		return DeployResult{}, &InvalidSpecError{Err: err}
	}
	app.File = file
	switch {
	case src.Root != "" && !filepath.IsAbs(file):
		return DeployResult{}, &InvalidSpecError{Err: fmt.Errorf("%s: an uploaded spec is named by its absolute path on the client", file)}
	case src.Root != "":
		app.Root = src.Root
		app.Dir = app.Path(filepath.Dir(file))
		if src.Binary != "" {
			app.Build.Main, app.Build.Binary = "", src.Binary // built by the client
		}
	case filepath.IsAbs(file):
		app.Dir = filepath.Dir(file)
	}
	if err := c.readRules(app); err != nil {
		return DeployResult{}, &InvalidSpecError{Err: err}
	}
	if err := app.ReadFiles(); err != nil {
		return DeployResult{}, &InvalidSpecError{Err: err}
	}
	if err := c.checkTLS(app); err != nil {
		return DeployResult{}, &InvalidSpecError{Err: err}
	}
	if err := c.checkQueries(app); err != nil {
		return DeployResult{}, &InvalidSpecError{Err: err}
	}
	if !src.ShareHosts {
		if err := c.checkHosts(ctx, app); err != nil {
			return DeployResult{}, err
		}
	}
	// a first look, before the build: the versions recorded are read again in the loop
	if _, err := c.secretVersions(ctx, app); err != nil {
		return DeployResult{}, err
	}
	res, err := c.buildAndRecord(ctx, app, src, out)
	if src.DryRun {
		if err == nil && res.Created {
			c.collectArtifacts(ctx) // the artifact built to compare: no revision keeps it
		}
		return res, err
	}
	if err == nil && res.Created {
		c.collectArtifacts(ctx)
	}
	c.CollectUploads(ctx)
	return res, err
}

// checkTLS refuses route.tls on a server without HTTPS, and certificate files that the
// gateway could not serve for the route's hosts: nothing changes then.
func (c *Controller) checkTLS(app *spec.App) error {
	t := app.Route.TLS
	if t == nil {
		return nil
	}
	if !c.o.HTTPS {
		return app.FieldError("route.tls", "this tend server has no HTTPS listener: start it with --https ADDR (like --https :443)")
	}
	if t.Auto {
		return nil
	}
	certFile, keyFile := app.Path(t.Cert), app.Path(t.Key)
	if _, _, _, err := certs.LoadPair(certFile, keyFile, app.Route.Hosts); err != nil {
		return app.FieldError("route.tls.cert", "%v", err)
	}
	return nil
}

// checkQueries refuses autoscale's custom queries that are not PromQL.
func (c *Controller) checkQueries(app *spec.App) error {
	if app.Autoscale == nil || c.o.CheckQuery == nil {
		return nil
	}
	for i, t := range app.Autoscale.Targets.Custom {
		if err := c.o.CheckQuery(t.Query); err != nil {
			return app.FieldError(fmt.Sprintf("autoscale.targets.custom[%d].query", i), "not a PromQL query: %v", err)
		}
	}
	return nil
}

// readRules reads the rule files of the spec's alerts (relative to its directory) into
// it, as they are now: the rules tend evaluates change with a deploy, not behind it.
func (c *Controller) readRules(app *spec.App) error {
	app.Alerts.RuleFiles = nil
	for i, r := range app.Alerts.Rules {
		path := app.Path(r)
		if fi, err := os.Stat(path); err == nil && (!fi.Mode().IsRegular() || fi.Size() > spec.MaxFileSize) {
			return app.FieldError(fmt.Sprintf("alerts.rules[%d]", i), "want a regular file of at most %d bytes, got %s (%d bytes)", spec.MaxFileSize, fi.Mode().Type(), fi.Size())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: alerts.rules[%d]: %w", app.File, i, err)
		}
		if c.o.CheckRules != nil {
			if err := c.o.CheckRules(path, b); err != nil {
				return fmt.Errorf("%s: alerts.rules[%d]: %w", app.File, i, err)
			}
		}
		app.Alerts.RuleFiles = append(app.Alerts.RuleFiles, spec.RuleFile{Path: path, Content: string(b)})
	}
	return nil
}

// buildAndRecord builds the artifact and records the revision; artifact collection
// waits while any deploy is between the two.
func (c *Controller) buildAndRecord(ctx context.Context, app *spec.App, src Source, out io.Writer) (DeployResult, error) {
	c.artifacts.RLock()
	defer c.artifacts.RUnlock()
	version := app.Build.Version
	if version == "" {
		version = src.Describe
	}
	art, err := c.o.Builder.Build(ctx, build.Request{App: app.App, Dir: app.Dir, Main: app.Path(app.Build.Main),
		Binary: app.Path(app.Build.Binary), Version: version, Commit: src.Commit, Root: app.Root}, out)
	if err != nil {
		return DeployResult{}, fmt.Errorf("build %s: %w", app.App, err)
	}
	if src.DryRun && !c.known(ctx, app.App) {
		// never deployed: nothing to compare with, and no loop to start for a name that
		// may never be deployed
		secrets, err := c.secretVersions(ctx, app)
		if err != nil {
			return DeployResult{}, err
		}
		return (&appLoop{app: app.App, st: rollout.Steady(app.App)}).plan(app, secrets, art), nil
	}
	l, err := c.loop(app.App)
	if err != nil {
		return DeployResult{}, err
	}
	var res DeployResult
	err = l.do(ctx, func(ctx context.Context) error {
		// in the loop, so that no remove, prune or other deploy of the app comes between
		// reading the versions and recording them
		secrets, err := c.secretVersions(ctx, app)
		if err != nil {
			return err
		}
		if src.DryRun {
			res = l.plan(app, secrets, art)
			return nil
		}
		res, err = l.deploy(ctx, app, string(src.Text), secrets, art, 0)
		return err
	})
	return res, err
}

// collector is a Builder that can delete the artifacts no revision uses.
type collector interface {
	GC(keep map[string]bool) error
}

// collectArtifacts deletes artifacts that no recorded revision of any app refers to.
func (c *Controller) collectArtifacts(ctx context.Context) {
	gc, ok := c.o.Builder.(collector)
	if !ok {
		return
	}
	c.artifacts.Lock()
	defer c.artifacts.Unlock()
	revs, err := store.List[store.Revision](ctx, c.o.Store, store.RevisionsRoot)
	if err != nil {
		c.log.Error("list revisions for artifact collection", "err", err)
		return
	}
	keep := map[string]bool{}
	for _, r := range revs {
		keep[r.Artifact] = true
	}
	if err := gc.GC(keep); err != nil {
		c.log.Warn("artifact collection", "err", err)
	}
}

// uploadAge is how long an upload no revision was made from is kept: the time between
// a client's upload and its deploy, and a deploy again after a failed build.
const uploadAge = time.Hour

// CollectUploads removes the uploads no recorded revision was made from and none used
// for an hour (a revision's certificate files are read from its upload while it may
// serve). Deploys and new uploads call it, so that uploads cannot fill the disk for good.
func (c *Controller) CollectUploads(ctx context.Context) {
	if c.o.Uploads == nil {
		return
	}
	revs, err := store.List[store.Revision](ctx, c.o.Store, store.RevisionsRoot)
	if err != nil {
		c.log.Error("list revisions for upload collection", "err", err)
		return
	}
	keep := map[string]bool{}
	for _, r := range revs {
		if r.Spec.Root != "" {
			keep[r.Spec.Root] = true
		}
	}
	if n, err := c.o.Uploads.Collect(keep, uploadAge); err != nil || n > 0 {
		c.log.Info("upload collection", "removed", n, "err", err)
	}
}

// existingRevision is the newest recorded revision with the artifact and the
// configuration (spec and secret versions) given.
func (l *appLoop) existingRevision(app *spec.App, secrets map[string]int, art build.Artifact) (store.Revision, bool) {
	hash := revisionHash(app, secrets)
	var rev store.Revision
	found := false
	for _, r := range l.revisions {
		if r.Artifact == art.Digest && r.ConfigHash == hash && r.Number > rev.Number {
			rev, found = r, true
		}
	}
	return rev, found
}

// plan says what deploying app would do, changing nothing.
func (l *appLoop) plan(app *spec.App, secrets map[string]int, art build.Artifact) DeployResult {
	rev, found := l.existingRevision(app, secrets, art)
	if !found {
		rev = store.Revision{App: app.App, Artifact: art.Digest, Version: art.Version, Commit: art.Commit, BuildTime: art.BuildTime,
			ConfigHash: revisionHash(app, secrets), Spec: *app, Secrets: secrets}
	}
	res := DeployResult{Revision: rev, Created: !found, DryRun: true}
	serving := l.st.Stable
	if !l.st.Phase.Terminal() {
		serving = l.st.To
	}
	res.Unchanged = found && serving == rev.Number
	if r, ok := l.revisions[serving]; ok && l.rec.Spec.App != "" {
		r.Spec = l.rec.Spec
		r.Spec.Instances = l.replicas() // what runs: tend scale's count until a deploy takes the spec's
		res.Serving = &r
	}
	return res
}

// deploy records the revision of app (found or new) and starts its rollout; instances
// is tend scale's count to keep (0: the spec's, as a deploy of a new spec takes).
func (l *appLoop) deploy(ctx context.Context, app *spec.App, source string, secrets map[string]int, art build.Artifact, instances int) (DeployResult, error) {
	hash := revisionHash(app, secrets)
	rev, found := l.existingRevision(app, secrets, art)
	now := time.Now()
	// the revision, the desired spec and the rollout that moves to it are written in one
	// transaction: a crash leaves all of them or none
	var ops []store.Op
	if !found {
		rev = store.Revision{App: app.App, Number: l.nextNumber(), Artifact: art.Digest, Path: l.c.inDataDir(art.Path),
			Version: art.Version, Commit: art.Commit, BuildTime: art.BuildTime, ConfigHash: hash, Spec: *app, Secrets: secrets, CreatedAt: now}
		// the revision number is taken only if nobody took it meanwhile
		ops = append(ops, store.Op{Key: store.RevisionKey(app.App, rev.Number), Value: rev, IfAbsent: true})
	}
	prevRec := l.rec
	if app.Autoscale != nil && prevRec.Spec.Autoscale != nil && instances == 0 && !prevRec.ScaledToZero {
		// the autoscaler's count carries over (bounded by the new min and max); tend
		// scale's floor ends here
		instances = min(max(l.replicas(), app.Autoscale.Min), app.Autoscale.Max)
	}
	l.rec = store.AppRecord{Spec: *app, Source: source, UpdatedAt: now, Maintenance: prevRec.Maintenance, Instances: instances}
	res := DeployResult{Revision: rev, Created: !found}
	inProgress := !l.st.Phase.Terminal()
	res.Unchanged = (!inProgress && l.st.Stable == rev.Number) || (inProgress && l.st.To == rev.Number)
	next := *l.st
	if res.Unchanged {
		next.Replicas = l.replicas()
	} else {
		next = *rollout.Start(l.st, app.App, rev.Number, *app, l.replicas(), now)
		next.PreviewToken = newPreviewToken()
	}
	ops = append(ops, store.Op{Key: store.AppKey(app.App), Value: l.rec}, store.Op{Key: store.RolloutKey(app.App), Value: next})
	ok, err := l.c.o.Store.Commit(ctx, ops...)
	if err == nil && !ok {
		err = fmt.Errorf("revision %d of %s was recorded by someone else; deploy again", rev.Number, app.App)
	}
	if err != nil {
		l.rec = prevRec
		return DeployResult{}, fmt.Errorf("record revision %d of %s: %w", rev.Number, app.App, err)
	}
	if !found {
		l.revisions[rev.Number] = rev
	}
	if res.Unchanged {
		*l.st = next
		l.event(ctx, "deploy", rev.Number, fmt.Sprintf("spec updated; revision %d unchanged", rev.Number))
		return res, nil
	}
	if inProgress {
		l.event(ctx, "rollout", l.st.To, fmt.Sprintf("rollout to revision %d superseded by revision %d", l.st.To, rev.Number))
	}
	l.st = &next
	l.event(ctx, "rollout", rev.Number, l.st.Message)
	l.prune(ctx)
	l.reconcile(ctx)
	return res, nil
}

func (l *appLoop) nextNumber() int {
	n := 0
	for k := range l.revisions {
		n = max(n, k)
	}
	return n + 1
}

// running is the revisions that have, or may soon have, instances: the stable one,
// those of the last rollout, and warm ones.
func (l *appLoop) running() map[int]bool {
	inUse := map[int]bool{l.st.Stable: true, l.st.From: true, l.st.To: true}
	for _, w := range l.st.Warm {
		inUse[w.Revision] = true
	}
	return inUse
}

// prune forgets the oldest revisions beyond keepRevisions, never one that may still run.
func (l *appLoop) prune(ctx context.Context) {
	nums := make([]int, 0, len(l.revisions))
	for n := range l.revisions {
		nums = append(nums, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(nums)))
	inUse := l.running()
	for _, n := range nums[min(len(nums), keepRevisions):] {
		if inUse[n] {
			continue
		}
		if err := l.c.o.Store.Delete(ctx, store.RevisionKey(l.app, n)); err != nil {
			l.log.Error("prune revision", "revision", n, "err", err)
			continue
		}
		delete(l.revisions, n)
		if f, ok := l.c.o.Runtime.(runtime.Forgetter); ok {
			if err := f.Forget(ctx, l.app, n); err != nil {
				l.log.Error("forget pruned revision", "revision", n, "err", err) // what it leaves is scaled to zero
			}
		}
	}
	l.pruneSecrets(ctx)
}

// Promote moves a paused rollout on (full skips the remaining canary steps).
func (c *Controller) Promote(ctx context.Context, app string, full bool) error {
	return c.command(ctx, app, "promote", func(l *appLoop) error {
		return rollout.Promote(l.st, full, l.observe(time.Now()), time.Now())
	})
}

// Abort stops the rollout in progress and sends all traffic back to the stable revision.
func (c *Controller) Abort(ctx context.Context, app string) error {
	return c.command(ctx, app, "abort", func(l *appLoop) error { return rollout.Abort(l.st, time.Now()) })
}

// Pause holds the rollout where it is until Resume.
func (c *Controller) Pause(ctx context.Context, app string) error {
	return c.command(ctx, app, "pause", func(l *appLoop) error {
		if l.st.Phase.Terminal() {
			return fmt.Errorf("%w (phase %s)", rollout.ErrNoRollout, l.st.Phase)
		}
		l.st.ManualPause = true
		return nil
	})
}

// Resume undoes Pause.
func (c *Controller) Resume(ctx context.Context, app string) error {
	return c.command(ctx, app, "resume", func(l *appLoop) error {
		if !l.st.ManualPause {
			return fmt.Errorf("%s is not paused by `tend pause`", app)
		}
		l.st.ManualPause = false
		l.st.ProgressAt = time.Now()
		return nil
	})
}

// Scale sets the app's instance count (until the next deploy, which takes the spec's).
// Zero stops every instance, warm ones too; the gateway then answers the app's requests
// with 503 "scaled to zero".
//
// On an autoscaled app, n is also a floor: the autoscaler keeps at least n instances
// until the next deploy. Scale returns the app's autoscale spec then (nil otherwise),
// for the caller to say so.
func (c *Controller) Scale(ctx context.Context, app string, n int) (*spec.Autoscale, error) {
	if n < 0 || n > 1000 {
		return nil, fmt.Errorf("instances must be between 0 and 1000, got %d", n)
	}
	var as *spec.Autoscale
	err := c.command(ctx, app, fmt.Sprintf("scale to %d", n), func(l *appLoop) error {
		if n == 0 && !l.st.Phase.Terminal() {
			return fmt.Errorf("%s has a rollout to revision %d in progress: let it end (tend rollout status %s) or stop it (tend abort %s) before scaling to zero",
				app, l.st.To, app, app)
		}
		prev := l.rec
		l.rec.Instances, l.rec.ScaledToZero = n, n == 0
		if as = l.rec.Spec.Autoscale; as != nil {
			l.rec.Floor = n
			l.as.next = time.Time{} // size it again now, from the new floor
		}
		next := *l.st
		next.Replicas = n
		// the desired count and the rollout's count change together or not at all
		if _, err := l.c.o.Store.Commit(ctx, store.Op{Key: store.AppKey(app), Value: l.rec}, store.Op{Key: store.RolloutKey(app), Value: next}); err != nil {
			l.rec = prev
			return fmt.Errorf("record the new instance count: %w", err)
		}
		l.st.Replicas = n
		return nil
	})
	return as, err
}

// Maintenance puts the app in maintenance (on: the gateway answers 503 with message
// and a Retry-After of retryAfter seconds while the instances keep running) or takes it out.
func (c *Controller) Maintenance(ctx context.Context, app string, on bool, message string, retryAfter int) error {
	what := "maintenance off"
	var m *route.Maintenance
	if on {
		what = "maintenance on"
		m = &route.Maintenance{Message: message, RetryAfter: retryAfter, Since: time.Now().UTC()}
	}
	return c.command(ctx, app, what, func(l *appLoop) error {
		prev := l.rec.Maintenance
		l.rec.Maintenance = m
		if _, err := l.c.o.Store.Commit(ctx, store.Op{Key: store.AppKey(app), Value: l.rec}); err != nil {
			l.rec.Maintenance = prev
			return fmt.Errorf("record the maintenance: %w", err)
		}
		return nil
	})
}

// Rollback makes revision to (0: the previous one) serve again: a route switch when its
// instances are still warm, a rolling rollout otherwise. It returns the revision.
func (c *Controller) Rollback(ctx context.Context, app string, to int) (int, error) {
	err := c.command(ctx, app, "rollback", func(l *appLoop) error {
		var err error
		to, err = l.rollback(ctx, to)
		return err
	})
	return to, err
}

func (l *appLoop) rollback(ctx context.Context, to int) (int, error) {
	if l.rec.ScaledToZero {
		return 0, fmt.Errorf("%s is scaled to zero: a rollback would run no instance; tend scale %s N first", l.app, l.app)
	}
	if to == 0 {
		to = l.previous()
		if to == 0 {
			return 0, fmt.Errorf("%s has no earlier revision to roll back to (see `tend history %s`)", l.app, l.app)
		}
	}
	rev, ok := l.revisions[to]
	if !ok {
		return 0, fmt.Errorf("%s has no revision %d (see `tend history %s`)", l.app, to, l.app)
	}
	if l.st.Phase.Terminal() && l.st.Stable == to {
		return 0, fmt.Errorf("revision %d already serves %s", to, l.app)
	}
	now := time.Now()
	if rollout.Rollback(l.st, to, l.observe(now), now) {
		return to, nil
	}
	if l.c.o.Secrets != nil && len(rev.Secrets) > 0 {
		// new instances open the revision's versions: refuse before anything moves
		if err := l.c.o.Secrets.Check(ctx, l.app, rev.Secrets); err != nil {
			return 0, fmt.Errorf("revision %d cannot start again: %w", to, err)
		}
	}
	sp := rev.Spec
	sp.Strategy = spec.Strategy{ProgressDeadline: sp.Strategy.ProgressDeadline, RollbackWindow: sp.Strategy.RollbackWindow}
	l.st = rollout.Start(l.st, l.app, to, sp, l.replicas(), now)
	l.st.PreviewToken = newPreviewToken()
	l.st.Message = fmt.Sprintf("rolling back to revision %d (rolling: its instances were no longer warm)", to)
	return to, nil
}

// previous is the revision a rollback without --to goes to.
func (l *appLoop) previous() int {
	if !l.st.Phase.Terminal() && l.st.From != 0 {
		return l.st.From
	}
	best := 0
	for _, w := range l.st.Warm {
		best = max(best, w.Revision)
	}
	if best != 0 {
		return best
	}
	if l.st.From != 0 && l.st.From != l.st.Stable {
		return l.st.From
	}
	for n := range l.revisions {
		if n < l.st.Stable && n > best {
			best = n
		}
	}
	return best
}

// Restart replaces every instance of the stable revision, one at a time; each new
// instance is ready before the one it replaces stops.
func (c *Controller) Restart(ctx context.Context, app string) error {
	l, err := c.existing(ctx, app)
	if err != nil {
		return err
	}
	var ids []string
	err = l.do(ctx, func(ctx context.Context) error {
		if err := l.deployed(); err != nil {
			return err
		}
		if l.rec.ScaledToZero {
			return fmt.Errorf("%s is scaled to zero: it has no instance to restart (tend scale %s N runs some)", app, app)
		}
		if !l.st.Phase.Terminal() {
			return fmt.Errorf("%s has a rollout in progress; restart after it ends", app)
		}
		for _, in := range c.o.Runtime.Instances(app) {
			if in.Revision == l.st.Stable && in.State != runtime.Stopping {
				ids = append(ids, in.ID)
			}
		}
		l.event(ctx, "restart", l.st.Stable, fmt.Sprintf("rolling restart of %d instances", len(ids)))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := c.o.Runtime.Replace(ctx, app, id); err != nil {
			return fmt.Errorf("replace instance %s: %w", id, err)
		}
	}
	return nil
}

// RestartInstance replaces one instance of the app with a new one of the same revision;
// the new one is ready before the old one stops.
func (c *Controller) RestartInstance(ctx context.Context, app, id string) error {
	l, err := c.existing(ctx, app)
	if err != nil {
		return err
	}
	found := false
	for _, in := range c.o.Runtime.Instances(app) {
		found = found || in.ID == id
	}
	if !found {
		return fmt.Errorf("%s has no instance %s (see tend status %s)", app, id, app)
	}
	if err := l.do(ctx, func(ctx context.Context) error {
		l.event(ctx, "restart", l.st.Stable, "restart of instance "+id)
		return nil
	}); err != nil {
		return err
	}
	if err := c.o.Runtime.Replace(ctx, app, id); err != nil {
		return fmt.Errorf("replace instance %s: %w", id, err)
	}
	return nil
}

// command runs fn on the app's loop and records it as an event.
func (c *Controller) command(ctx context.Context, app, what string, fn func(l *appLoop) error) error {
	l, err := c.existing(ctx, app)
	if err != nil {
		return err
	}
	return l.do(ctx, func(ctx context.Context) error {
		if err := l.deployed(); err != nil {
			return err // deleted while this command waited for the loop
		}
		before := l.st.Message
		if err := fn(l); err != nil {
			return err
		}
		msg := what
		if l.st.Message != before { // the rollout's own message says what the command did
			msg += ": " + l.st.Message
		}
		l.event(ctx, "command", l.st.To, msg)
		l.reconcile(ctx)
		return nil
	})
}

// inDataDir is path relative to the data dir when it lies in it (an artifact built by
// the server), else path as it is (an image reference, or a test's executable).
func (c *Controller) inDataDir(path string) string {
	if c.o.DataDir == "" || !filepath.IsAbs(path) {
		return path
	}
	dir, err := filepath.Abs(c.o.DataDir)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(dir, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}

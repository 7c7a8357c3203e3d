package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

// DeleteResult says what `tend delete` removed.
type DeleteResult struct {
	// Stopped is how many instances were stopped.
	Stopped int
	// Revisions is how many revisions are kept for `tend history` (0 with purge).
	Revisions int
	// Purged is true when the revisions, events and secrets were removed too.
	Purged bool
}

// ErrRedeployed is a delete that a deploy of the same app overtook: the app serves
// again. ErrStillStopping is a delete that committed but whose instances did not all
// stop in time.
var (
	ErrRedeployed    = errors.New("deployed again while it was being deleted")
	ErrStillStopping = errors.New("instances still stopping")
)

// stopWait bounds how long Delete waits for the app's instances to stop, beyond the
// longest shutdown grace of its revisions.
const stopWait = 15 * time.Second

// Delete removes an app: its route first (the gateway stops sending it requests), then
// its spec and rollout, and stops every instance as a scale to zero does (each drains
// for its grace). Its revisions, events and secrets stay, so `tend history APP` still
// shows them and a deploy of the same name goes on numbering; purge removes them too,
// and the artifacts no other revision uses are collected. Delete returns once no
// instance of the app runs, or says how many still do.
func (c *Controller) Delete(ctx context.Context, app string, purge bool) (DeleteResult, error) {
	l, err := c.existing(ctx, app)
	if errors.Is(err, ErrUnknownApp) && purge {
		return c.purgeDeleted(ctx, app, err) // deleted before, or a purge cut short: its history goes now
	}
	if err != nil {
		return DeleteResult{}, err
	}
	var res DeleteResult
	grace := time.Duration(0)
	err = l.do(ctx, func(ctx context.Context) error {
		ops := []store.Op{{Key: store.RouteKey(app), Delete: true}, {Key: store.AppKey(app), Delete: true},
			{Key: store.RolloutKey(app), Delete: true}}
		if _, err := c.o.Store.Commit(ctx, ops...); err != nil {
			return fmt.Errorf("remove %s's route, spec and rollout: %w", app, err)
		}
		l.stopAnalysis()
		l.event(ctx, "delete", l.st.Stable, fmt.Sprintf("deleted %s: its route, spec and rollout removed, its instances stopping", app))
		running := map[int]bool{}
		for _, in := range c.o.Runtime.Instances(app) {
			if in.State != runtime.Stopping {
				res.Stopped++
			}
			running[in.Revision] = true
		}
		for rev := range running {
			r, ok := l.revisions[rev]
			if !ok {
				continue
			}
			grace = max(grace, r.Spec.Shutdown.Grace)
			if err := c.o.Runtime.Apply(ctx, runtime.Set{Template: template(r), Replicas: 0}); err != nil {
				l.log.Error("stop the instances of a deleted app", "revision", rev, "err", err)
			}
		}
		l.rec = store.AppRecord{}
		l.st = rollout.Steady(app)
		l.applied = map[int]int{}
		l.as = autoscaler{}
		l.lastRoute, l.lastState = nil, nil
		c.metrics.forget(app)
		l.publish(*l.st)
		return nil
	})
	if err != nil {
		return res, err
	}
	redeployed := func() bool {
		var rec store.AppRecord
		return c.o.Store.Get(ctx, store.AppKey(app), &rec) == nil
	}
	if err := waitStopped(ctx, c.o.Runtime, app, grace+stopWait, redeployed); err != nil {
		return res, err
	}
	err = l.do(ctx, func(ctx context.Context) error {
		if l.rec.Spec.App != "" {
			return fmt.Errorf("%s was %w; its history is kept", app, ErrRedeployed)
		}
		l.forgetRevisions(ctx)
		if !purge {
			res.Revisions = len(l.revisions)
			return nil
		}
		return l.purge(ctx)
	})
	if err != nil {
		return res, err
	}
	if purge {
		res.Purged = true
		c.collectArtifacts(ctx)
		c.CollectUploads(ctx)
	}
	return res, nil
}

// hasRevisions says whether revisions of app are recorded: a deleted app's history
// until it is purged.
func (c *Controller) hasRevisions(ctx context.Context, app string) bool {
	revs, err := store.Newest[store.Revision](ctx, c.o.Store, store.RevisionsPrefix(app), 1)
	return err == nil && len(revs) > 0
}

// purgeDeleted purges an app that has no spec any more but whose revisions are kept
// (deleted without --purge, or a purge cut short); unknown is the error for an app
// that has neither.
func (c *Controller) purgeDeleted(ctx context.Context, app string, unknown error) (DeleteResult, error) {
	if !c.hasRevisions(ctx, app) {
		return DeleteResult{}, unknown
	}
	l, err := c.loop(app)
	if err != nil {
		return DeleteResult{}, err
	}
	err = l.do(ctx, func(ctx context.Context) error {
		if l.rec.Spec.App != "" {
			return fmt.Errorf("%s was %w: delete it first", app, ErrRedeployed)
		}
		l.forgetRevisions(ctx)
		return l.purge(ctx)
	})
	if err != nil {
		return DeleteResult{}, err
	}
	c.collectArtifacts(ctx)
	c.CollectUploads(ctx)
	return DeleteResult{Purged: true}, nil
}

// forgetRevisions deletes what the runtime keeps of each revision of a deleted app
// beyond its instances (on Kubernetes: Deployments, Secrets, ConfigMaps, scaled to zero
// by now); a deploy that brings a revision back makes them again.
func (l *appLoop) forgetRevisions(ctx context.Context) {
	f, ok := l.c.o.Runtime.(runtime.Forgetter)
	if !ok {
		return
	}
	for n := range l.revisions {
		if err := f.Forget(ctx, l.app, n); err != nil {
			l.log.Error("forget a revision of a deleted app", "revision", n, "err", err)
		}
	}
}

// purge removes what a deleted app left for its history: revisions, events and secrets.
// Its instance user stays recorded, so that a deploy of the same name runs as the same
// uid that owns what its instances left on disk.
func (l *appLoop) purge(ctx context.Context) error {
	c := l.c
	for _, p := range []string{store.RevisionsPrefix(l.app), store.EventsPrefix + l.app + "/"} {
		if _, err := c.o.Store.DeletePrefix(ctx, p); err != nil {
			return fmt.Errorf("purge %s: %w", l.app, err)
		}
	}
	if err := c.o.Store.Delete(ctx, store.AutoscaleKey(l.app)); err != nil {
		return fmt.Errorf("purge %s: %w", l.app, err)
	}
	l.revisions = map[int]store.Revision{}
	if c.o.Secrets != nil {
		if _, err := c.o.Secrets.RemoveAll(ctx, l.app); err != nil {
			return fmt.Errorf("purge the secrets of %s: %w", l.app, err)
		}
	}
	return nil
}

// waitStopped waits until no instance of app runs, for at most d, or until the app is
// deployed again.
func waitStopped(ctx context.Context, rt runtime.Runtime, app string, d time.Duration, redeployed func() bool) error {
	deadline := time.Now().Add(d)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		n := len(rt.Instances(app))
		if n == 0 {
			return nil
		}
		if redeployed() {
			return fmt.Errorf("%s was %w: it serves again, its history kept", app, ErrRedeployed)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is deleted, but %d of its instances still run after %s (%w): see tend logs %s --all and the server's log, and stop them by hand if they hang", app, n, d, ErrStillStopping, app)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is deleted; its %d instances are still stopping (%w): %w", app, n, ErrStillStopping, ctx.Err())
		case <-t.C:
		}
	}
}

// stopOrphans stops the instances of apps that have no spec any more: those of an app
// whose delete was cut short by a crash after its records were removed and before its
// instances stopped (the process runtime adopts them at start and keeps them running; on
// Kubernetes their Deployments are still there). It finds them by the instance records
// the process runtime keeps and by what the runtime runs, and, as a delete does, has the
// runtime forget what it keeps of their revisions beyond the instances.
func (c *Controller) stopOrphans(ctx context.Context, known map[string]bool) {
	type owner struct {
		App string `json:"app"`
	}
	recs, err := store.List[owner](ctx, c.o.Store, store.InstancesPrefix)
	if err != nil {
		c.log.Error("list instance records for instances of deleted apps", "err", err)
	}
	orphans := map[string]bool{}
	for _, r := range recs {
		orphans[r.App] = true
	}
	for _, in := range c.o.Runtime.Instances("") {
		orphans[in.App] = true
	}
	forgetter, _ := c.o.Runtime.(runtime.Forgetter)
	for app := range orphans {
		if app == "" || known[app] {
			continue
		}
		revs := map[int]bool{}
		for _, in := range c.o.Runtime.Instances(app) {
			revs[in.Revision] = true
		}
		for rev := range revs {
			var rec store.Revision
			if err := c.o.Store.Get(ctx, store.RevisionKey(app, rev), &rec); err != nil {
				c.log.Error("an instance of a deleted app has no revision record to stop it by", "app", app, "revision", rev, "err", err)
				continue
			}
			c.log.Warn("stopping the instances of a deleted app (its delete was cut short)", "app", app, "revision", rev)
			if err := c.o.Runtime.Apply(ctx, runtime.Set{Template: template(rec), Replicas: 0}); err != nil {
				c.log.Error("stop the instances of a deleted app", "app", app, "revision", rev, "err", err)
				continue
			}
			if forgetter != nil {
				if err := forgetter.Forget(ctx, app, rev); err != nil {
					c.log.Error("forget a revision of a deleted app", "app", app, "revision", rev, "err", err)
				}
			}
		}
	}
}

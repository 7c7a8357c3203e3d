package controller

import (
	"context"
	"errors"
	"sort"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// Status is what `tend status` shows about one app.
type Status struct {
	App       string             `json:"app"`
	Strategy  string             `json:"strategy"`
	Instances int                `json:"instances"`
	Hosts     []string           `json:"hosts,omitempty"`
	Path      string             `json:"pathPrefix"`
	Rollout   rollout.State      `json:"rollout"`
	Current   *store.Revision    `json:"revision,omitempty"`
	Running   []runtime.Instance `json:"running"`
	// Maintenance is set while `tend maintenance APP on` holds (the gateway answers 503).
	Maintenance *route.Maintenance `json:"maintenance,omitempty"`
	// Autoscale is the autoscaler's bounds and last decision (nil: not autoscaled).
	Autoscale *AutoscaleStatus `json:"-"`
	// Canary is the canary strategy of the rollout's revision To, for its steps; nil for
	// the other strategies.
	Canary *spec.Canary `json:"-"`
}

// Status reports one app.
func (c *Controller) Status(ctx context.Context, app string) (Status, error) {
	l, err := c.existing(ctx, app)
	if err != nil {
		return Status{}, err
	}
	var s Status
	err = l.do(ctx, func(context.Context) error {
		s = Status{App: app, Strategy: l.rec.Spec.Strategy.Kind(), Instances: l.replicas(),
			Hosts: l.rec.Spec.Route.Hosts, Path: l.rec.Spec.Route.PathPrefix, Rollout: *l.st, Maintenance: l.rec.Maintenance,
			Autoscale: l.autoscaleStatus()}
		if r, ok := l.revisions[l.st.Stable]; ok {
			r.Spec = l.rec.Spec
			s.Current = &r
		}
		if r, ok := l.revisions[l.st.To]; ok && l.st.Strategy == "canary" {
			s.Canary = r.Spec.Strategy.Canary
		}
		return nil
	})
	s.Running = c.o.Runtime.Instances(app)
	sort.Slice(s.Running, func(i, j int) bool { return s.Running[i].ID < s.Running[j].ID })
	return s, err
}

// List reports every app.
func (c *Controller) List(ctx context.Context) ([]Status, error) {
	names, err := c.Apps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(names))
	for _, n := range names {
		s, err := c.Status(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// History is an app's revisions (newest first) and its latest events (oldest first).
type History struct {
	Revisions []store.Revision `json:"revisions"`
	Stable    int              `json:"stable"`
	Events    []store.Event    `json:"events"`
}

// History reports an app's revisions and events; limit bounds the events (default 50).
// A deleted app's history is kept until it is purged.
func (c *Controller) History(ctx context.Context, app string, limit int) (History, error) {
	l, err := c.existing(ctx, app)
	if errors.Is(err, ErrUnknownApp) {
		if c.hasRevisions(ctx, app) {
			l, err = c.loop(app)
		}
	}
	if err != nil {
		return History{}, err
	}
	if limit <= 0 {
		limit = 50
	}
	var h History
	err = l.do(ctx, func(context.Context) error {
		for _, r := range l.revisions {
			h.Revisions = append(h.Revisions, r)
		}
		h.Stable = l.st.Stable
		return nil
	})
	if err != nil {
		return h, err
	}
	sort.Slice(h.Revisions, func(i, j int) bool { return h.Revisions[i].Number > h.Revisions[j].Number })
	h.Events, err = store.Newest[store.Event](ctx, c.o.Store, store.EventsPrefix+app+"/", limit)
	return h, err
}

// Watch streams the app's rollout state: the current one at once, then every change,
// until ctx ends (the channel is then closed).
func (c *Controller) Watch(ctx context.Context, app string) (<-chan rollout.State, error) {
	l, err := c.existing(ctx, app)
	if err != nil {
		return nil, err
	}
	in, stop := l.watch()
	out := make(chan rollout.State)
	go func() {
		defer close(out)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case st := <-in:
				select {
				case out <- st:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

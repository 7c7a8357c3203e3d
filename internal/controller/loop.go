package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// appLoop reconciles one app. Its state is touched only by run and by the commands
// it executes on its goroutine.
type appLoop struct {
	c   *Controller
	app string
	log *slog.Logger

	wake chan struct{}
	cmds chan command

	// owned by run
	st        *rollout.State
	rec       store.AppRecord
	revisions map[int]store.Revision
	lastRoute []byte
	lastState []byte
	analysis  *analysisRun
	applied   map[int]int
	events    int
	as        autoscaler

	watchMu  sync.Mutex
	watchers map[chan rollout.State]struct{}
	snapshot rollout.State
}

type command struct {
	fn    func(ctx context.Context) error
	reply chan error
}

type analysisRun struct {
	step     int
	to       int
	cancel   context.CancelFunc
	verdict  chan rollout.Verdict
	result   *rollout.Verdict
	progress chan rollout.Measurement
}

func newAppLoop(ctx context.Context, c *Controller, app string) (*appLoop, error) {
	l := &appLoop{c: c, app: app, log: c.log.With("app", app), wake: make(chan struct{}, 1),
		cmds: make(chan command), revisions: map[int]store.Revision{}, applied: map[int]int{},
		watchers: map[chan rollout.State]struct{}{}}
	if err := c.o.Store.Get(ctx, store.AppKey(app), &l.rec); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	revs, err := store.List[store.Revision](ctx, c.o.Store, store.RevisionsPrefix(app))
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		l.revisions[r.Number] = r
	}
	var st rollout.State
	switch err := c.o.Store.Get(ctx, store.RolloutKey(app), &st); {
	case errors.Is(err, store.ErrNotFound):
		l.st = rollout.Steady(app)
	case err != nil:
		return nil, err
	default:
		l.st = &st
		l.lastState, _ = store.Encode(store.RolloutKey(l.app), st)
	}
	l.snapshot = *l.st
	return l, nil
}

func (l *appLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// do runs fn on the loop's goroutine and returns its error.
func (l *appLoop) do(ctx context.Context, fn func(ctx context.Context) error) error {
	cmd := command{fn: fn, reply: make(chan error, 1)}
	select {
	case l.cmds <- cmd:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-cmd.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *appLoop) run(ctx context.Context) {
	t := time.NewTicker(l.c.o.Tick)
	defer t.Stop()
	defer l.stopAnalysis()
	l.reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case cmd := <-l.cmds:
			cmd.reply <- cmd.fn(ctx)
		case <-l.wake:
		case <-t.C:
		}
		l.reconcile(ctx)
	}
}

// deployed says why the app has no spec (deleted, or never deployed), or nil.
func (l *appLoop) deployed() error {
	if l.rec.Spec.App == "" {
		return fmt.Errorf("%w %q: deploy it first with `tend deploy -f tend.yaml`", ErrUnknownApp, l.app)
	}
	return nil
}

// replicas is how many instances the app should have now.
func (l *appLoop) replicas() int {
	if l.rec.ScaledToZero {
		return 0
	}
	n := max(1, l.rec.Spec.Instances)
	if l.rec.Instances > 0 {
		n = l.rec.Instances
	}
	if as := l.rec.Spec.Autoscale; as != nil {
		// within min and max, and not below tend scale's floor
		n = min(max(n, as.Min, l.rec.Floor), max(as.Max, l.rec.Floor))
	}
	return n
}

// observe counts the app's instances by revision.
func (l *appLoop) observe(now time.Time) rollout.Observation {
	o := rollout.Observation{Ready: map[int]int{}, Available: map[int]int{}, Total: map[int]int{}, Why: map[int]string{},
		Restarts: map[int]int{}, LastExit: map[int]string{}}
	for _, in := range l.c.o.Runtime.Instances(l.app) {
		if in.State == runtime.Stopping {
			continue
		}
		o.Total[in.Revision]++
		if in.Restarts > 0 {
			o.Restarts[in.Revision] += in.Restarts
			if in.Message != "" {
				o.LastExit[in.Revision] = in.ID + ": " + in.Message
			}
		}
		if in.State != runtime.Ready {
			if o.Why[in.Revision] == "" && in.Message != "" {
				o.Why[in.Revision] = in.ID + ": " + in.Message
			}
			continue
		}
		o.Ready[in.Revision]++
		var minReady time.Duration
		if r, ok := l.revisions[in.Revision]; ok {
			minReady = r.Spec.Strategy.MinReady()
		}
		if !in.ReadySince.IsZero() && now.Sub(in.ReadySince) >= minReady {
			o.Available[in.Revision]++
		}
	}
	// only a rollout in progress can fail for want of instances
	if e, ok := l.c.o.Runtime.(runtime.Explainer); ok && l.st.To != 0 && !l.st.Phase.Terminal() && o.Why[l.st.To] == "" {
		o.Why[l.st.To] = e.Explain(l.app, l.st.To)
	}
	return o
}

// reconcile takes one step of the rollout and makes instances and the route match it.
func (l *appLoop) reconcile(ctx context.Context) {
	if l.rec.Spec.App == "" {
		// never deployed, or deleted: whatever still runs (an instance a restart in
		// flight started after the delete) is stopped
		if len(l.c.o.Runtime.Instances(l.app)) > 0 {
			l.applyReplicas(ctx, map[int]int{})
		}
		return
	}
	now := time.Now()
	in := rollout.Input{Now: now, Obs: l.observe(now)}
	if r, ok := l.revisions[l.st.To]; ok {
		in.Spec = r.Spec
	} else {
		in.Spec = l.rec.Spec
	}
	l.takeMeasurements(ctx)
	if a := l.analysis; a != nil && a.result != nil && a.step == l.st.Step && a.to == l.st.To {
		in.Verdict = a.result
		l.c.metrics.verdicts.WithLabelValues(l.app, a.result.Result).Inc()
		l.analysis = nil
	} else if a != nil {
		select {
		case v := <-a.verdict:
			a.result = &v
			if a.step == l.st.Step && a.to == l.st.To {
				in.Verdict = a.result
				l.c.metrics.verdicts.WithLabelValues(l.app, v.Result).Inc()
				l.analysis = nil
			}
		default:
		}
	}
	l.autoscale(ctx, now)
	before := l.st.Phase
	if l.st.PreviewToken == "" && !l.st.Phase.Terminal() {
		l.st.PreviewToken = newPreviewToken() // a rollout started by a tend that made none
	}
	out := rollout.Advance(l.st, in)
	for _, e := range out.Events {
		l.event(ctx, "rollout", l.st.To, e)
	}
	if before != l.st.Phase {
		l.log.Info("rollout phase", "from", before, "to", l.st.Phase, "revision", l.st.To, "message", l.st.Message)
	}
	if out.Analyze != nil {
		l.startAnalysis(ctx, out.Analyze, in.Spec)
	} else if l.analysis != nil && (l.analysis.step != l.st.Step || l.analysis.to != l.st.To || l.st.Phase.Terminal()) {
		l.stopAnalysis()
	}
	if out.Analyze == nil {
		l.st.Analysis = nil // what ran is in Verdicts now
	}
	l.applyReplicas(ctx, out.Replicas)
	l.writeRoute(ctx, out)
	l.saveState(ctx)
}

// applyReplicas scales every revision the decision names, and every revision that
// runs but is not named down to zero.
func (l *appLoop) applyReplicas(ctx context.Context, want map[int]int) {
	running := map[int]bool{}
	for _, in := range l.c.o.Runtime.Instances(l.app) {
		running[in.Revision] = true
	}
	for rev := range running {
		if _, ok := want[rev]; !ok {
			want[rev] = 0
		}
	}
	for rev, n := range want {
		if rev == 0 || (l.applied[rev] == n && (n > 0 || !running[rev])) {
			continue
		}
		r, ok := l.revisions[rev]
		if !ok {
			l.log.Error("no record of revision; cannot run it", "revision", rev)
			continue
		}
		if err := l.c.o.Runtime.Apply(ctx, runtime.Set{Template: template(r), Replicas: n}); err != nil {
			l.log.Error("scale revision", "revision", rev, "replicas", n, "err", err)
			continue
		}
		l.applied[rev] = n
	}
}

// template is how instances of a revision are started.
func template(r store.Revision) runtime.Template {
	return runtime.Template{App: r.App, Revision: r.Number, Artifact: r.Path, Env: r.Spec.Env, Secrets: secretRefs(r), Files: files(r), Args: r.Spec.Args,
		Health: r.Spec.Health, Resources: r.Spec.Resources, Shutdown: r.Spec.Shutdown}
}

// protocol is the route record's name for a spec's route.protocol ("" for HTTP/1.1).
func protocol(p string) string {
	if p == "http2" {
		return p
	}
	return ""
}

// previewToken is the route record's preview token: the rollout's, while it has a
// revision to preview.
func previewToken(preview int, token string) string {
	if preview == 0 {
		return ""
	}
	return token
}

// newPreviewToken is a rollout's preview secret: 128 random bits, URL- and header-safe.
func newPreviewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (it panics if the OS has no randomness)
	return hex.EncodeToString(b)
}

// routeTLS is the route record's TLS of a spec (nil: plain HTTP only), with the files'
// paths absolute.
func routeTLS(sp *spec.App) *route.TLS {
	t := sp.Route.TLS
	if t == nil {
		return nil
	}
	return &route.TLS{Auto: t.Auto, CertFile: sp.Path(t.Cert), KeyFile: sp.Path(t.Key), Redirect: t.Redirect, HSTS: t.HSTS,
		OnDemand: t.OnDemand}
}

// writeRoute publishes the decision's traffic split for the gateway, when it changed.
func (l *appLoop) writeRoute(ctx context.Context, out rollout.Output) {
	sp := l.rec.Spec
	rt := route.Route{App: l.app, Hosts: sp.Route.Hosts, PathPrefix: sp.Route.PathPrefix, Preview: out.Preview,
		PreviewToken: previewToken(out.Preview, l.st.PreviewToken),
		MaxBody:      sp.Route.MaxBodyBytes, Protocol: protocol(sp.Route.Protocol), Maintenance: l.rec.Maintenance, ResponseTimeout: sp.Route.Timeouts.Response, BodyTimeout: sp.Route.Timeouts.Body, ConnectTimeout: sp.Route.Timeouts.Connect,
		TLS: routeTLS(&sp)}
	if l.rec.ScaledToZero && rt.Maintenance == nil && l.st.Phase.Terminal() {
		rt.Maintenance = &route.Maintenance{ScaledToZero: true, Since: l.rec.UpdatedAt}
	}
	rt.Splits = slices.Clone(out.Splits)
	if out.MatchCanary {
		if r, ok := l.revisions[l.st.To]; ok && r.Spec.Strategy.Canary != nil {
			if pct := r.Spec.Strategy.Canary.Mirror; pct > 0 {
				rt.Mirror, rt.MirrorPercent = l.st.To, pct
			}
			for _, m := range r.Spec.Strategy.Canary.Match {
				for k, v := range m.Header {
					rt.Matches = append(rt.Matches, route.Match{Kind: "header", Name: k, Value: v, Revision: l.st.To})
				}
				for k, v := range m.Cookie {
					rt.Matches = append(rt.Matches, route.Match{Kind: "cookie", Name: k, Value: v, Revision: l.st.To})
				}
			}
		}
	}
	if len(rt.Splits) == 0 {
		rt.Splits = []route.Split{{Revision: -1, Weight: 100}} // nothing may serve: route to no revision
	}
	b, err := store.Encode(store.RouteKey(l.app), rt)
	if err != nil || string(b) == string(l.lastRoute) {
		return
	}
	if err := l.c.o.Store.PutEncoded(ctx, store.RouteKey(l.app), b); err != nil {
		l.log.Error("write route", "err", err)
		return
	}
	l.lastRoute = b
	if l.c.o.Routed != nil {
		wctx, cancel := context.WithTimeout(ctx, routedWait)
		defer cancel()
		if err := l.c.o.Routed(wctx, store.RouteKey(l.app), b); err != nil && ctx.Err() == nil {
			l.log.Warn("the gateway does not route as the rollout says yet; going on", "err", err)
		}
	}
}

// routedWait is how long a route change waits for the gateway to serve it.
const routedWait = 3 * time.Second

// saveState stores the rollout state when it changed and tells watchers.
func (l *appLoop) saveState(ctx context.Context) {
	b, err := store.Encode(store.RolloutKey(l.app), l.st)
	if err != nil || string(b) == string(l.lastState) {
		return
	}
	if err := l.c.o.Store.PutEncoded(ctx, store.RolloutKey(l.app), b); err != nil {
		l.log.Error("save rollout state", "err", err)
		return
	}
	l.lastState = b
	l.c.metrics.observe(l.st)
	l.publish(*l.st)
}

// event records one line of the app's history.
func (l *appLoop) event(ctx context.Context, kind string, rev int, msg string) {
	e := store.Event{App: l.app, At: time.Now(), Kind: kind, Revision: rev, Message: msg}
	if err := l.c.o.Store.Put(ctx, store.EventKey(l.app, e.At), e); err != nil {
		l.log.Error("record event", "err", err)
	}
	l.log.Info(msg, "kind", kind, "revision", rev)
	if l.events++; l.events%50 == 0 {
		l.pruneEvents(ctx)
	}
}

// keepEvents is how many events of an app are kept.
const keepEvents = 500

// pruneEvents deletes all but the newest keepEvents events.
func (l *appLoop) pruneEvents(ctx context.Context) {
	if err := l.c.o.Store.Prune(ctx, store.EventsPrefix+l.app+"/", keepEvents); err != nil {
		l.log.Error("prune events", "err", err)
	}
}

func (l *appLoop) startAnalysis(ctx context.Context, a *spec.Analysis, sp spec.App) {
	if l.analysis != nil && l.analysis.step == l.st.Step && l.analysis.to == l.st.To {
		return
	}
	l.stopAnalysis()
	run := &analysisRun{step: l.st.Step, to: l.st.To, verdict: make(chan rollout.Verdict, 1), progress: make(chan rollout.Measurement, 64)}
	l.analysis = run
	l.st.Analysis = &rollout.Verdict{Step: l.st.Step, At: time.Now(), Result: "running"}
	if l.c.o.Analyzer == nil {
		run.verdict <- rollout.Verdict{At: time.Now(), Result: "inconclusive",
			Message: "no analyzer is configured in this tend server, so the canary cannot be judged automatically"}
		return
	}
	actx, cancel := context.WithCancel(ctx)
	run.cancel = cancel
	req := rollout.AnalysisRequest{App: l.app, Stable: l.st.From, Canary: l.st.To, Started: l.st.StepStarted, PreviewToken: l.st.PreviewToken,
		Deadline: sp.Strategy.ProgressDeadline, Route: sp.Route, Analysis: a,
		Report: func(m rollout.Measurement) {
			select {
			case run.progress <- m:
			default: // the loop is far behind; the verdict carries every measurement anyway
			}
			l.poke()
		}}
	go func() {
		v := l.c.o.Analyzer.Analyze(actx, req)
		run.verdict <- v
		l.poke()
	}()
}

// takeMeasurements records the running analysis' new measurements in the rollout state
// (so that status shows them live) and as events.
func (l *appLoop) takeMeasurements(ctx context.Context) {
	a := l.analysis
	if a == nil || l.st.Analysis == nil || a.step != l.st.Step || a.to != l.st.To {
		return
	}
	for {
		select {
		case m := <-a.progress:
			l.st.Analysis.Measurements = append(l.st.Analysis.Measurements, m)
			l.c.metrics.measured.WithLabelValues(l.app, m.Result).Inc()
			l.st.Analysis.Message = m.Message
			l.event(ctx, "analysis", l.st.To, fmt.Sprintf("analysis %s: %s", m.Result, m.Message))
		default:
			return
		}
	}
}

func (l *appLoop) stopAnalysis() {
	if l.analysis != nil && l.analysis.cancel != nil {
		l.analysis.cancel()
	}
	l.analysis = nil
}

// publish sends the state to every watcher, replacing any value they have not read yet.
func (l *appLoop) publish(st rollout.State) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	l.snapshot = st
	for ch := range l.watchers {
		select {
		case <-ch:
		default:
		}
		ch <- st
	}
}

// watch returns a channel with the current state and every later change.
func (l *appLoop) watch() (<-chan rollout.State, func()) {
	ch := make(chan rollout.State, 1)
	l.watchMu.Lock()
	l.watchers[ch] = struct{}{}
	ch <- l.snapshot
	l.watchMu.Unlock()
	return ch, func() {
		l.watchMu.Lock()
		delete(l.watchers, ch)
		l.watchMu.Unlock()
	}
}

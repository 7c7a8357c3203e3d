package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/monitor"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// targets is what the monitor scrapes: the runtime's instances, each labelled canary
// while its revision is the one a rollout moves to (stable otherwise), with the metrics
// endpoint and memory limit of its app's spec. It follows the store's rollouts and specs,
// so a scrape asks neither the controller nor its app loops.
type targets struct {
	rt  runtime.Runtime
	st  *store.Store
	log *slog.Logger

	mu     sync.Mutex
	canary map[string]int      // app → the revision a rollout in progress moves to
	specs  map[string]spec.App // app → its desired spec
}

func newTargets(rt runtime.Runtime, st *store.Store, log *slog.Logger) *targets {
	return &targets{rt: rt, st: st, log: log, canary: map[string]int{}, specs: map[string]spec.App{}}
}

var targetPrefixes = []string{store.RolloutsPrefix, store.AppsPrefix}

// Load reads the store's rollouts and specs once, for the first scrape.
func (t *targets) Load(ctx context.Context) error {
	kvs := map[string][]byte{}
	for _, p := range targetPrefixes {
		recs, err := t.st.Records(ctx, p)
		if err != nil {
			return fmt.Errorf("read the apps to scrape: %w", err)
		}
		for _, kv := range recs {
			kvs[kv.Key] = kv.Value
		}
	}
	t.set(kvs)
	return nil
}

// Run follows the store until ctx ends.
func (t *targets) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := t.st.Follow(ctx, targetPrefixes, func(_ int64, kvs map[string][]byte) { t.set(kvs) })
		if ctx.Err() != nil {
			break
		}
		t.log.Warn("lost the watch on rollouts for scraping; reading them again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// set replaces what targets knows by the store's records kvs.
func (t *targets) set(kvs map[string][]byte) {
	canary, specs := map[string]int{}, map[string]spec.App{}
	for k, v := range kvs {
		switch {
		case strings.HasPrefix(k, store.RolloutsPrefix):
			var r rollout.State
			if store.Decode(k, v, &r) == nil && !r.Phase.Terminal() && r.From != 0 {
				canary[strings.TrimPrefix(k, store.RolloutsPrefix)] = r.To
			}
		case strings.HasPrefix(k, store.AppsPrefix):
			var a store.AppRecord
			if store.Decode(k, v, &a) == nil {
				specs[strings.TrimPrefix(k, store.AppsPrefix)] = a.Spec
			}
		}
	}
	t.mu.Lock()
	t.canary, t.specs = canary, specs
	t.mu.Unlock()
}

// List is the scrape targets now.
func (t *targets) List(context.Context) []monitor.Target {
	instances := t.rt.Instances("")
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]monitor.Target, 0, len(instances))
	for _, in := range instances {
		s, known := t.specs[in.App]
		if !known {
			continue // an app being deployed for the first time: scraped from the next round
		}
		tg := monitor.Target{App: in.App, Revision: in.Revision, Instance: in.ID, Role: "stable", PID: in.PID, Restarts: in.Restarts,
			MemoryLimit: s.Resources.MemoryBytes}
		if in.Revision == t.canary[in.App] {
			tg.Role = "canary"
		}
		if m := s.Metrics; !m.Disabled {
			addr := in.AdminAddr
			if m.Port == "app" {
				addr = in.Addr
			}
			if addr != "" {
				tg.URL = "http://" + addr + m.Path
			}
		}
		out = append(out, tg)
	}
	return out
}

package dataplane

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// follow keeps p.routing equal to the store's routes and registry endpoints.
func (p *Plane) follow(ctx context.Context) {
	defer p.wg.Done()
	first := true
	for {
		err := p.o.Store.Follow(ctx, []string{store.RoutesPrefix, store.ServicesPrefix, store.CertsPrefix}, func(rev int64, kvs map[string][]byte) {
			p.followed(p.decode(rev, kvs), rawRoutes(kvs))
			if first {
				first = false
				close(p.first)
			}
		})
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("lost the watch on the store's routes; reading them again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// followed takes r as the routing to push; raw are its route records as stored.
func (p *Plane) followed(r gateway.Routing, raw map[string]string) {
	p.mu.Lock()
	p.routing, p.raw = r, raw
	p.seq++
	p.mu.Unlock()
	p.kick()
}

// rawRoutes are the route records among kvs, by key.
func rawRoutes(kvs map[string][]byte) map[string]string {
	raw := map[string]string{}
	for k, v := range kvs {
		if strings.HasPrefix(k, store.RoutesPrefix) {
			raw[k] = string(v)
		}
	}
	return raw
}

// decode turns the store's records into a routing, in a stable order.
func (p *Plane) decode(rev int64, kvs map[string][]byte) gateway.Routing {
	keys := make([]string, 0, len(kvs))
	for k := range kvs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r := gateway.Routing{Version: rev, Routes: []route.Route{}, Endpoints: []store.Endpoint{}}
	for _, k := range keys {
		var err error
		switch {
		case strings.HasPrefix(k, store.RoutesPrefix):
			var rt route.Route
			if err = store.Decode(k, kvs[k], &rt); err == nil {
				r.Routes = append(r.Routes, rt)
			}
		case strings.HasPrefix(k, store.CertsPrefix):
			var c store.Certificate
			if err = store.Decode(k, kvs[k], &c); err == nil && c.CertPEM != "" && c.Unclaimed.IsZero() {
				r.Certs = append(r.Certs, c)
			}
		default:
			var ep store.Endpoint
			if err = store.Decode(k, kvs[k], &ep); err == nil {
				r.Endpoints = append(r.Endpoints, ep)
			}
		}
		if err != nil {
			p.log.Error("ignoring an undecodable record", "key", k, "err", err)
		}
	}
	return r
}

// snapshotLocked is the routing to push: the store's, with the ACME challenges.
func (p *Plane) snapshotLocked() gateway.Routing {
	r := p.routing
	r.Challenges = p.challenges
	now := time.Now()
	for h, until := range p.denied {
		if now.Before(until) {
			r.Denied = append(r.Denied, h)
		} else {
			delete(p.denied, h)
		}
	}
	slices.Sort(r.Denied)
	return r
}

// deniedFor is how long the gateway fails the handshakes of a host refused on demand
// (the certificate manager asks the approval URL again after as long).
const deniedFor = time.Minute

// deny tells the gateway that host gets no on-demand certificate for now: its waiting
// handshakes fail at once, and so do new ones for deniedFor.
func (p *Plane) deny(ctx context.Context, host string) {
	p.mu.Lock()
	if p.denied == nil {
		p.denied = map[string]time.Time{}
	}
	p.denied[host] = time.Now().Add(deniedFor)
	p.mu.Unlock()
	if _, err := p.pushNow(ctx); err != nil {
		p.log.Debug("tell the gateway of a refused on-demand host", "host", host, "err", err)
	}
}

// pushNow pushes the latest routing to the current gateway and returns its change
// count (p.seq) as of that routing.
func (p *Plane) pushNow(ctx context.Context) (uint64, error) {
	p.pushMu.Lock() // pushes in order: a challenge's push and the loop's may race
	defer p.pushMu.Unlock()
	p.mu.Lock()
	r, seq, raw := p.snapshotLocked(), p.seq, p.raw
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.client.Push(ctx, r); err != nil {
		return seq, err
	}
	p.mu.Lock()
	p.pushedRaw = raw
	close(p.pushed)
	p.pushed = make(chan struct{})
	p.mu.Unlock()
	return seq, nil
}

// Routed returns once the gateway serves the route record b stored at key (what
// store.Encode made of it), or when ctx ends: the controller waits on it so that a
// rollout is over only when the gateway routes as it says.
func (p *Plane) Routed(ctx context.Context, key string, b []byte) error {
	for {
		p.mu.Lock()
		served, ch := p.pushedRaw[key] == string(b), p.pushed
		p.mu.Unlock()
		if served {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway has not taken %s yet: %w", key, ctx.Err())
		case <-ch:
		}
	}
}

// pushLoop pushes every change of the routing, and tells the gateway every 2s that the
// server is there (it pushes again when the gateway serves another version).
//
// A change is told by p.seq, not by the routing's store revision: the store's watches
// of routes, endpoints and certificates are separate streams, and an endpoint's change
// can arrive after a route's of a later revision, so the revision does not move.
func (p *Plane) pushLoop(ctx context.Context, pushed uint64) {
	defer p.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	p.mu.Lock()
	pushedGen := p.gen
	p.mu.Unlock()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		case <-t.C:
		}
		p.mu.Lock()
		seq, version, gen := p.seq, p.routing.Version, p.gen
		p.mu.Unlock()
		var err error
		if seq != pushed || gen != pushedGen {
			var v uint64
			if v, err = p.pushNow(ctx); err == nil {
				pushed, pushedGen = v, gen
			}
		} else {
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = p.client.Heartbeat(hctx, version)
			cancel()
			if err == gateway.ErrStale {
				pushedGen = -1
				p.kick()
				err = nil
			}
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			failing = true
			p.log.Warn("cannot reach the gateway process; it serves its last routing meanwhile", "err", err)
		case err == nil && failing:
			failing = false
			p.log.Info("the gateway process answers again")
		}
		if err != nil {
			select { // retry soon, not only at the next tick
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
				p.kick()
			}
		}
	}
}

// Present makes the gateway answer an ACME challenge; it returns once the gateway does.
func (p *Plane) Present(ctx context.Context, ch gateway.Challenge) error {
	p.mu.Lock()
	p.challenges = append(slices.DeleteFunc(slices.Clone(p.challenges), func(c gateway.Challenge) bool { return sameChallenge(c, ch) }), ch)
	p.mu.Unlock()
	if _, err := p.pushNow(ctx); err != nil {
		return fmt.Errorf("give the gateway the ACME challenge for %s: %w", ch.Host, err)
	}
	return nil
}

// CleanUp stops answering a challenge (the next push leaves it out).
func (p *Plane) CleanUp(ctx context.Context, ch gateway.Challenge) {
	p.mu.Lock()
	p.challenges = slices.DeleteFunc(slices.Clone(p.challenges), func(c gateway.Challenge) bool { return sameChallenge(c, ch) })
	p.mu.Unlock()
	if _, err := p.pushNow(ctx); err != nil {
		p.log.Debug("take an ACME challenge off the gateway", "host", ch.Host, "err", err)
	}
}

func sameChallenge(a, b gateway.Challenge) bool {
	return a.Kind == b.Kind && a.Host == b.Host && a.Token == b.Token
}

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tendhq/tend/internal/store"
)

// Run loads routes and registry endpoints from the store, then follows their changes,
// rebuilding the table after each batch, until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	if g.o.Store == nil {
		return errors.New("gateway: Run needs a store (use SetState without one)")
	}
	for {
		err := g.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		g.log.Warn("gateway lost its watch on the store; reloading", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// follow loads everything once and applies watch events until the watch fails.
func (g *Gateway) follow(ctx context.Context) error {
	cli := g.o.Store.Client
	routes := map[string]store.Route{}
	endpoints := map[string]store.Endpoint{}
	rr, err := cli.Get(ctx, store.RoutesPrefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	er, err := cli.Get(ctx, store.ServicesPrefix, clientv3.WithPrefix(), clientv3.WithRev(rr.Header.Revision))
	if err != nil {
		return err
	}
	for _, kv := range rr.Kvs {
		decodeInto(routes, string(kv.Key), kv.Value, g)
	}
	for _, kv := range er.Kvs {
		decodeInto(endpoints, string(kv.Key), kv.Value, g)
	}
	g.install(routes, endpoints)

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	next := clientv3.WithRev(rr.Header.Revision + 1)
	rw := cli.Watch(wctx, store.RoutesPrefix, clientv3.WithPrefix(), next)
	ew := cli.Watch(wctx, store.ServicesPrefix, clientv3.WithPrefix(), next)
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case resp, ok = <-rw:
		case resp, ok = <-ew:
		}
		if !ok {
			return errors.New("watch channel closed")
		}
		if err := resp.Err(); err != nil {
			return err
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			if strings.HasPrefix(key, store.RoutesPrefix) {
				apply(routes, ev, g)
			} else {
				apply(endpoints, ev, g)
			}
		}
		g.install(routes, endpoints)
	}
}

func apply[T any](m map[string]T, ev *clientv3.Event, g *Gateway) {
	key := string(ev.Kv.Key)
	if ev.Type == clientv3.EventTypeDelete {
		delete(m, key)
		return
	}
	decodeInto(m, key, ev.Kv.Value, g)
}

func decodeInto[T any](m map[string]T, key string, value []byte, g *Gateway) {
	var v T
	if err := json.Unmarshal(value, &v); err != nil {
		g.log.Error("ignoring an undecodable record", "key", key, "err", fmt.Errorf("decode: %w", err))
		return
	}
	m[key] = v
}

func (g *Gateway) install(routes map[string]store.Route, endpoints map[string]store.Endpoint) {
	rs := make([]store.Route, 0, len(routes))
	for _, r := range routes {
		rs = append(rs, r)
	}
	es := make([]store.Endpoint, 0, len(endpoints))
	for _, e := range endpoints {
		es = append(es, e)
	}
	g.SetState(rs, es)
	g.loadedOnce.Do(func() { close(g.loaded) })
}

// Loaded is closed once Run has installed the store's routes and endpoints for the first
// time; a server serves its gateway listener only after that, so that a freshly started
// (or handed-over) server never answers "no app is routed" for an app it has not read yet.
func (g *Gateway) Loaded() <-chan struct{} { return g.loaded }

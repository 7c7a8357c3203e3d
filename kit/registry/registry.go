// Package registry registers a service in etcd under a lease, in the key layout tend's gateway reads, and looks up and watches its peers.
package registry

import (
	"context"
	"encoding/json"

	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is where services live: /services/<name>/<address>:<port>.
const Prefix = "/services/"

// Service is one endpoint of a service, as the seed's ServiceInfo and tend's registry store it.
type Service struct {
	Name     string            `json:"name"`
	Address  string            `json:"address"`
	Port     int               `json:"port"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Key is the service's registry key.
func (s Service) Key() string {
	return Prefix + s.Name + "/" + net.JoinHostPort(s.Address, strconv.Itoa(s.Port))
}

// Registration is a live registration; its key disappears when Deregister is called, or
// within the TTL when the process dies.
type Registration struct {
	client *clientv3.Client
	svc    Service
	lease  clientv3.LeaseID
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Register puts s under a lease of ttl (at least 2s) and keeps the lease alive until
// Deregister or ctx ends.
func Register(ctx context.Context, c *clientv3.Client, s Service, ttl time.Duration) (*Registration, error) {
	if s.Name == "" || s.Address == "" || s.Port <= 0 {
		return nil, fmt.Errorf("register: want a name, an address and a port, got %+v", s)
	}
	secs := int64(max(2, ttl/time.Second))
	l, err := c.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("register %s: grant lease: %w (is etcd reachable?)", s.Name, err)
	}
	b, _ := json.Marshal(s)
	if _, err := c.Put(ctx, s.Key(), string(b), clientv3.WithLease(l.ID)); err != nil {
		return nil, fmt.Errorf("register %s: %w", s.Name, err)
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ch, err := c.KeepAlive(kctx, l.ID)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("register %s: keep lease alive: %w", s.Name, err)
	}
	r := &Registration{client: c, svc: s, lease: l.ID, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ch:
				if !ok {
					return
				}
			}
		}
	}()
	return r, nil
}

// Deregister removes the key at once (by revoking its lease) and stops the keep-alive.
func (r *Registration) Deregister(ctx context.Context) error {
	var err error
	r.once.Do(func() {
		r.cancel()
		<-r.done
		if _, rerr := r.client.Revoke(ctx, r.lease); rerr != nil {
			err = fmt.Errorf("deregister %s: %w", r.svc.Name, rerr)
		}
	})
	return err
}

// Lookup lists the endpoints of service name, sorted by key.
func Lookup(ctx context.Context, c *clientv3.Client, name string) ([]Service, error) {
	resp, err := c.Get(ctx, Prefix+name+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return decode(resp.Kvs)
}

func decode[KV interface{ GetValue() []byte }](kvs []KV) ([]Service, error) {
	out := make([]Service, 0, len(kvs))
	for _, kv := range kvs {
		var s Service
		if err := json.Unmarshal(kv.GetValue(), &s); err != nil {
			return nil, fmt.Errorf("decode registry entry: %w", err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// Watch sends the full endpoint list of service name now and after every change, until
// ctx ends; the channel is then closed.
func Watch(ctx context.Context, c *clientv3.Client, name string) (<-chan []Service, error) {
	resp, err := c.Get(ctx, Prefix+name+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", name, err)
	}
	current := map[string]Service{}
	for _, kv := range resp.Kvs {
		var s Service
		if json.Unmarshal(kv.Value, &s) == nil {
			current[string(kv.Key)] = s
		}
	}
	out := make(chan []Service, 1)
	wc := c.Watch(ctx, Prefix+name+"/", clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		defer close(out)
		send := func() bool {
			list := make([]Service, 0, len(current))
			for _, s := range current {
				list = append(list, s)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Key() < list[j].Key() })
			select {
			case out <- list:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !send() {
			return
		}
		for wr := range wc {
			if wr.Err() != nil {
				return
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					delete(current, string(ev.Kv.Key))
					continue
				}
				var s Service
				if json.Unmarshal(ev.Kv.Value, &s) == nil {
					current[string(ev.Kv.Key)] = s
				}
			}
			if !send() {
				return
			}
		}
	}()
	return out, nil
}

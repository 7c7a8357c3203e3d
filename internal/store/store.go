// Package store keeps tend's state in etcd: embedded in the data dir by default, or an external cluster.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// ErrNotFound is returned by Get when a key does not exist.
var ErrNotFound = errors.New("not found")

// Options say where the state lives.
type Options struct {
	// DataDir holds the embedded etcd (DataDir/etcd) when Endpoints is empty.
	DataDir string
	// Endpoints of an external etcd cluster; empty starts the embedded one.
	Endpoints []string
	// LeaseTTL is the time-to-live of the lease that registry keys hang on (default 10s).
	LeaseTTL time.Duration
	Logger   *slog.Logger
}

// Store is tend's handle on etcd: the only package that speaks to it, through typed
// operations (records, leased registry keys, transactions, follow).
type Store struct {
	etcdc *clientv3.Client

	etcd    *embed.Etcd
	unlock  func()
	lease   clientv3.LeaseID
	cancel  context.CancelFunc
	kaDone  chan struct{}
	leaseTT time.Duration
	closing atomic.Bool // set by Close: etcd's listener errors after it are its stop's
}

// Open starts the embedded etcd (or connects to Endpoints) and grants the lease that
// this server's registry keys live under; the lease is kept alive until Close.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	s := &Store{leaseTT: o.LeaseTTL}
	if len(o.Endpoints) == 0 {
		if err := s.startEmbedded(o); err != nil {
			return nil, err
		}
	} else {
		c, err := clientv3.New(clientv3.Config{Endpoints: o.Endpoints, DialTimeout: 5 * time.Second, Context: context.Background()})
		if err != nil {
			return nil, fmt.Errorf("connect to etcd %v: %w (check --etcd-endpoints)", o.Endpoints, err)
		}
		s.etcdc = c
	}
	if err := s.grantLease(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) startEmbedded(o Options) error {
	dir := filepath.Join(o.DataDir, "etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create etcd dir: %w", err)
	}
	unlock, err := LockDir(dir)
	if err != nil {
		return err
	}
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "tend"
	// etcd logs through zap: its errors go to tend's log, its chatter nowhere.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger(o.Logger, &s.closing))
	// unix sockets inside the data dir: no TCP port to collide with other etcds or parallel tests.
	// etcd listens on a peer URL's Host but on a client URL's Host+Path, and compares
	// advertised URLs in their parsed form, hence the two spellings.
	peerPath, clientPath := filepath.Join(dir, "peer.sock"), filepath.Join(dir, "client.sock")
	_ = os.Remove(peerPath)
	_ = os.Remove(clientPath)
	peer := url.URL{Scheme: "unix", Path: peerPath}
	client := url.URL{Scheme: "unix", Path: clientPath}
	cfg.ListenPeerUrls = []url.URL{{Scheme: "unix", Host: peerPath}}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "1000"
	// damage that makes etcd hang or panic is found first, and named
	if err := checkDamage(dir); err != nil {
		unlock()
		return err
	}
	e, err := startEtcd(cfg)
	if err != nil {
		unlock()
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(readyTimeout):
		// no Close: on a store that never became ready it does not return either; the
		// caller exits, which ends etcd's goroutines and releases its sockets
		unlock()
		return &DamagedError{File: dir, What: fmt.Sprintf("did not become ready within %s (no error: damaged state etcd does not report)", readyTimeout), Dir: dir}
	case err := <-e.Err():
		e.Close()
		unlock()
		return fmt.Errorf("embedded etcd in %s: %w", dir, err)
	}
	s.etcd = e
	s.unlock = unlock
	s.etcdc = v3client.New(e.Server)
	return nil
}

// readyTimeout bounds the embedded etcd's start-up, which is under a second or two on
// a healthy store.
const readyTimeout = 20 * time.Second

// startEtcd starts the embedded etcd; a panic in its start-up (it has some on damaged
// files) becomes a DamagedError.
func startEtcd(cfg *embed.Config) (e *embed.Etcd, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, &DamagedError{File: cfg.Dir, What: fmt.Sprintf("makes etcd fail at start-up (%v)", r), Dir: cfg.Dir}
		}
	}()
	e, err = embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	return e, nil
}

func (s *Store) grantLease(ctx context.Context) error {
	l, err := s.etcdc.Grant(ctx, int64(s.leaseTT/time.Second))
	if err != nil {
		return fmt.Errorf("grant registry lease: %w", err)
	}
	s.lease = l.ID
	kctx, cancel := context.WithCancel(context.Background())
	ch, err := s.etcdc.KeepAlive(kctx, l.ID)
	if err != nil {
		cancel()
		return fmt.Errorf("keep registry lease alive: %w", err)
	}
	s.cancel = cancel
	s.kaDone = make(chan struct{})
	go func() {
		defer close(s.kaDone)
		for range ch {
		}
	}()
	return nil
}

// Close revokes nothing (registry keys of a crashed or stopped server expire with their
// lease) and shuts the embedded etcd down. Closing twice does nothing the second time.
func (s *Store) Close() error {
	if s.closing.Swap(true) {
		return nil
	}
	if s.cancel != nil {
		s.cancel()
		<-s.kaDone
	}
	if s.etcdc != nil {
		s.etcdc.Close()
	}
	if s.etcd != nil {
		s.etcd.Close()
		s.unlock()
	}
	return nil
}

// RevokeLease deletes every key under this server's lease at once (used on a normal stop).
func (s *Store) RevokeLease(ctx context.Context) error {
	_, err := s.etcdc.Revoke(ctx, s.lease)
	return err
}

// Get reads key into v; it returns ErrNotFound when the key does not exist.
func (s *Store) Get(ctx context.Context, key string, v any) error {
	r, err := s.etcdc.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return ErrNotFound
	}
	return Decode(key, r.Kvs[0].Value, v)
}

// Put writes v as JSON under key.
func (s *Store) Put(ctx context.Context, key string, v any) error { return s.put(ctx, key, v) }

// Encode is v as the store writes it under key: JSON, with the record's format. A
// caller that compares records to skip unchanged writes compares these, and writes
// them with PutEncoded, encoding once.
func Encode(key string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return stamp(key, b), nil
}

// PutEncoded writes a record Encode made for key.
func (s *Store) PutEncoded(ctx context.Context, key string, b []byte) error {
	if _, err := s.etcdc.Put(ctx, key, string(b)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, v any, opts ...clientv3.OpOption) error {
	b, err := Encode(key, v)
	if err != nil {
		return err
	}
	if _, err := s.etcdc.Put(ctx, key, string(b), opts...); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// PutLeased writes v under key on this server's lease: the key disappears when the
// server stops renewing it.
func (s *Store) PutLeased(ctx context.Context, key string, v any) error {
	return s.put(ctx, key, v, clientv3.WithLease(s.lease))
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.etcdc.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// DeletePrefix removes every key under prefix and says how many there were.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	r, err := s.etcdc.Delete(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", prefix, err)
	}
	return r.Deleted, nil
}

// List decodes every value under prefix, in key order, into a new T.
func List[T any](ctx context.Context, s *Store, prefix string) ([]T, error) {
	r, err := s.etcdc.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]T, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		var v T
		if err := Decode(string(kv.Key), kv.Value, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// LockDir takes an exclusive lock on dir (a file named lock in it), so that a second
// server on the same directory fails at once instead of waiting or corrupting state.
func LockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another tend server (lock %s): %w", dir, path, err)
	}
	return func() { f.Close() }, nil
}

// Follow reads every key under prefixes at one revision, then follows their changes:
// after the first read and after each batch of changes it calls fn with the store's
// revision and the whole current set (key → value; fn must not keep the map). It
// returns when ctx ends (nil) or the watch fails (the caller reads again).
func (s *Store) Follow(ctx context.Context, prefixes []string, fn func(rev int64, kvs map[string][]byte)) error {
	kvs := map[string][]byte{}
	var rev int64
	for i, p := range prefixes {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if i > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		r, err := s.etcdc.Get(ctx, p, opts...)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if i == 0 {
			rev = r.Header.Revision
		}
		for _, kv := range r.Kvs {
			kvs[string(kv.Key)] = kv.Value
		}
	}
	fn(rev, kvs)

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	changes := make(chan clientv3.WatchResponse)
	for _, p := range prefixes {
		w := s.etcdc.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		go func() {
			for resp := range w {
				select {
				case changes <- resp:
				case <-wctx.Done():
					return
				}
			}
			select {
			case changes <- clientv3.WatchResponse{Canceled: true}:
			case <-wctx.Done():
			}
		}()
	}
	for {
		var resp clientv3.WatchResponse
		select {
		case <-ctx.Done():
			return nil
		case resp = <-changes:
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		if resp.Canceled {
			return errors.New("watch: channel closed")
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(kvs, string(ev.Kv.Key))
			} else {
				kvs[string(ev.Kv.Key)] = ev.Kv.Value
			}
		}
		if resp.Header.Revision > rev {
			rev = resp.Header.Revision
		}
		fn(rev, kvs)
	}
}

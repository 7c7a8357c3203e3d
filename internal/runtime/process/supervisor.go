// Package process runs instances as local processes under tend's supervision: probes, restarts, drains, and re-adoption after a crash.
package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

var _ runtime.Runtime = (*Supervisor)(nil)

// Options configure a Supervisor.
type Options struct {
	// DataDir holds instance logs (DataDir/logs) and working dirs (DataDir/instances).
	DataDir string
	Store   *store.Store
	Logger  *slog.Logger
	// BeforeStop runs after an instance left the registry and before it gets SIGTERM:
	// the server wires it to the gateway's drain. Its context ends after shutdown.drain.
	BeforeStop func(ctx context.Context, inst runtime.Instance) error
	// LogMaxBytes rotates an instance log above this size (default 10 MiB; 3 old files kept).
	LogMaxBytes int64
	Backoff     Backoff
	// User is whom instances run as (default: as tend).
	User User
	// Verify checks an artifact before an instance starts from it (the server wires
	// build.Verify: missing or damaged artifacts say so and what to do); nil: no check.
	Verify func(path string) error
	// Secrets opens the given versions (name → version) of an app's secrets for an
	// instance's environment; nil: a template with secrets does not start.
	Secrets func(ctx context.Context, app string, versions map[string]int) (map[string][]byte, error)
	// Env are variables ("NAME=value") every instance gets before its spec's env, which
	// may override them (the server's OTEL_EXPORTER_OTLP_ENDPOINT).
	Env []string
}

// Backoff is the restart delay policy: Initial, doubled at each restart up to Max, and
// back to Initial after an instance stayed up for Reset.
type Backoff struct {
	Initial, Max, Reset time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Reset <= 0 {
		b.Reset = time.Minute
	}
	return b
}

// delay is the wait before restart number n (1-based) of a run of quick exits.
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Supervisor is the process runtime. Every instance has one goroutine that starts it,
// probes it, restarts it and stops it.
type Supervisor struct {
	o       Options
	log     *slog.Logger
	dataDir string
	probe   *http.Client
	limits  limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	instances map[string]*instance
	subs      runtime.Subscribers

	uidMu sync.Mutex
	uids  map[string]uint32 // app → uid, with User.Mode PerApp
	owner string            // markerVar's value: which data dir an instance belongs to
}

// New starts a supervisor on the data dir: it re-adopts the instances recorded in the
// store whose processes still run, restarts those that died, and stops strays (processes
// started for this data dir that no record accounts for).
func New(ctx context.Context, o Options) (*Supervisor, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogMaxBytes <= 0 {
		o.LogMaxBytes = 10 << 20
	}
	o.Backoff = o.Backoff.withDefaults()
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if o.User, err = openDataDir(dir, o.User, o.Logger); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Supervisor{o: o, log: o.Logger, dataDir: dir, ctx: sctx, cancel: cancel,
		probe:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}},
		limits:    newLimiter(o.Logger),
		instances: map[string]*instance{}, uids: map[string]uint32{}, owner: ownerMark(dir)}
	if err := s.adopt(ctx); err != nil {
		cancel()
		return nil, err
	}
	s.wg.Add(1)
	go s.rotateLogs()
	return s, nil
}

// Apply scales one revision of an app to set.Replicas instances.
func (s *Supervisor) Apply(ctx context.Context, set runtime.Set) error {
	if set.Artifact == "" {
		return fmt.Errorf("revision %d of %s has no artifact to run", set.Revision, set.App)
	}
	s.mu.Lock()
	var current []*instance
	for _, in := range s.instances {
		if in.rec.App == set.App && in.rec.Revision == set.Revision && !in.stopping {
			current = append(current, in)
		}
	}
	var victims []*instance
	switch {
	case len(current) < set.Replicas:
		for i := len(current); i < set.Replicas; i++ {
			s.startLocked(set.Template, newID(set.App, set.Revision))
		}
	case len(current) > set.Replicas:
		// not-ready first, then the newest
		sort.Slice(current, func(i, j int) bool {
			ri, rj := current[i].state == runtime.Ready, current[j].state == runtime.Ready
			if ri != rj {
				return !ri
			}
			return current[i].rec.StartedAt.After(current[j].rec.StartedAt)
		})
		victims = current[:len(current)-set.Replicas]
		for _, v := range victims {
			v.stopping = true
			v.state = runtime.Stopping
		}
	}
	s.mu.Unlock()
	for _, v := range victims {
		v.requestStop()
	}
	if len(victims) > 0 {
		s.subs.Notify(set.App)
	}
	return nil
}

// Replace starts a new instance like id, waits until it is ready, then stops id.
func (s *Supervisor) Replace(ctx context.Context, app, id string) error {
	s.mu.Lock()
	old := s.instances[id]
	if old == nil || old.rec.App != app {
		s.mu.Unlock()
		return fmt.Errorf("no instance %s of %s", id, app)
	}
	fresh := s.startLocked(old.rec.Template, newID(app, old.rec.Revision))
	s.mu.Unlock()
	for {
		s.mu.Lock()
		st := fresh.state
		s.mu.Unlock()
		if st == runtime.Ready {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replacement for %s did not become ready: %w", id, ctx.Err())
		case <-fresh.done:
			return fmt.Errorf("replacement for %s stopped before it was ready", id)
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.mu.Lock()
	old.stopping = true
	old.state = runtime.Stopping
	s.mu.Unlock()
	old.requestStop()
	select {
	case <-old.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Instances lists the instances of app ("" for all), ordered by id.
func (s *Supervisor) Instances(app string) []runtime.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]runtime.Instance, 0, len(s.instances))
	for _, in := range s.instances {
		if app == "" || in.rec.App == app {
			out = append(out, in.snapshotLocked())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Subscribe returns a channel that gets the app name whenever one of its instances changes.
func (s *Supervisor) Subscribe() (<-chan string, func()) { return s.subs.Subscribe() }

// Close stops supervising. With stopInstances every instance is stopped gracefully
// (concurrently); without, processes and records stay for the next supervisor.
func (s *Supervisor) Close(ctx context.Context, stopInstances bool) error {
	s.mu.Lock()
	all := make([]*instance, 0, len(s.instances))
	for _, in := range s.instances {
		all = append(all, in)
		if stopInstances {
			in.stopping = true
			in.state = runtime.Stopping
		}
	}
	s.mu.Unlock()
	if stopInstances {
		for _, in := range all {
			in.requestStop()
		}
		for _, in := range all {
			select {
			case <-in.done:
			case <-ctx.Done():
				return fmt.Errorf("instances still stopping: %w", ctx.Err())
			}
		}
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// startLocked registers a new instance and starts its goroutine.
func (s *Supervisor) startLocked(t runtime.Template, id string) *instance {
	in := newInstance(s, record{App: t.App, ID: id, Revision: t.Revision, Template: t, StartedAt: time.Now()})
	s.instances[id] = in
	s.wg.Add(1)
	go in.run(false)
	return in
}

func (s *Supervisor) forget(in *instance) {
	s.mu.Lock()
	if s.instances[in.rec.ID] == in {
		delete(s.instances, in.rec.ID)
	}
	s.mu.Unlock()
	s.subs.Notify(in.rec.App)
}

// rotateLogs copy-truncates instance logs that grew past LogMaxBytes.
func (s *Supervisor) rotateLogs() {
	defer s.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		for _, in := range s.Instances("") {
			if _, err := logs.Rotate(logs.Path(s.dataDir, in.App, in.ID), s.o.LogMaxBytes, 3); err != nil {
				s.log.Warn("rotate instance log", "instance", in.ID, "err", err)
			}
		}
	}
}

func newID(app string, rev int) string {
	const letters = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 4)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return app + "-" + strconv.Itoa(rev) + "-" + string(b)
}

var errStopped = errors.New("stopped")

// artifact is where an instance's executable is: a relative path is in the data dir.
func (s *Supervisor) artifact(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(s.dataDir, path)
}

// openSecrets opens the values of the secrets t uses (name → value), now.
func (s *Supervisor) openSecrets(t runtime.Template) (map[string][]byte, error) {
	versions := t.SecretVersions()
	if len(versions) == 0 {
		return nil, nil
	}
	if s.o.Secrets == nil {
		return nil, fmt.Errorf("revision %d of %s uses secrets, and this server has none", t.Revision, t.App)
	}
	return s.o.Secrets(s.ctx, t.App, versions)
}

// secretEnv is the environment entries of t's secret variables.
func secretEnv(t runtime.Template, values map[string][]byte) ([]string, error) {
	env := make([]string, 0, len(t.Secrets))
	for k, ref := range t.Secrets {
		v := values[ref.Name]
		if bytes.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("secret %s v%d holds a NUL byte, which no environment variable can: give it as a file (files: [{path: ..., secret: %s}]), or set it again without one", ref.Name, ref.Version, ref.Name)
		}
		env = append(env, k+"="+string(v))
	}
	return env, nil
}

// writeFiles puts t's files in the working dir dir, owned by whom the instance runs as:
// config files 0444, secrets 0400. It goes through an os.Root, so that a symbolic link
// the instance left in its dir cannot make tend write outside it.
func writeFiles(dir string, cred *syscall.Credential, files []runtime.File, values map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open the working dir for its files: %w", err)
	}
	defer root.Close()
	for _, f := range files {
		content, mode := []byte(f.Content), os.FileMode(0o444)
		if f.Secret != nil {
			content, mode = values[f.Secret.Name], 0o400
		}
		if parent := filepath.Dir(f.Path); parent != "." {
			if err := root.MkdirAll(parent, 0o700); err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
			if cred != nil {
				if err := root.Chown(parent, int(cred.Uid), int(cred.Gid)); err != nil {
					return fmt.Errorf("file %s: %w", f.Path, err)
				}
			}
		}
		// a file of an earlier start is replaced, whatever its mode now
		if err := root.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		out, err := root.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if cred != nil {
			if err := out.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
				out.Close()
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
		}
		_, err = out.Write(content)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	return nil
}

func (s *Supervisor) workDir(id string) string { return filepath.Join(s.dataDir, "instances", id) }

// makeWorkDir creates an instance's working dir, 0700 and owned by whom it runs as.
func (s *Supervisor) makeWorkDir(id string, cred *syscall.Credential) (string, error) {
	dir := s.workDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create working dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("close working dir %s to others: %w", dir, err)
	}
	if fi, err := os.Stat(dir); cred != nil && (err != nil || fi.Sys().(*syscall.Stat_t).Uid != cred.Uid) {
		// the dir and what it holds, once: a restart keeps the dir, whose files an earlier
		// run may have made as another user (an older tend ran instances as root); a dir
		// already the instance's holds only what the instance made
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(cred.Uid), int(cred.Gid))
		})
		if err != nil {
			return "", fmt.Errorf("give the working dir %s to uid %d: %w", dir, cred.Uid, err)
		}
	}
	return dir, nil
}

func removeAll(dir string) { _ = os.RemoveAll(dir) }

package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

// record is what the store keeps about an instance so that a new supervisor can re-adopt it.
type record struct {
	App      string `json:"app"`
	ID       string `json:"id"`
	Revision int    `json:"revision"`
	PID      int    `json:"pid"`
	// StartTime is field 22 of /proc/PID/stat: with the PID it identifies the process.
	StartTime uint64           `json:"startTime"`
	Port      int              `json:"port"`
	AdminPort int              `json:"adminPort"`
	Template  runtime.Template `json:"template"`
	Restarts  int              `json:"restarts"`
	StartedAt time.Time        `json:"startedAt"`
	// Stopping is set once tend has decided to stop the instance: a supervisor that takes
	// over after a crash finishes the stop instead of restarting it.
	Stopping bool `json:"stopping,omitempty"`
}

// instance is one supervised instance; its fields are guarded by the supervisor's mutex,
// except the channels.
type instance struct {
	s   *Supervisor
	rec record

	state      runtime.State
	readySince time.Time
	message    string
	limits     string
	stopping   bool

	stopAsked bool
	stop      chan struct{} // closed to ask for a graceful stop
	done      chan struct{} // closed when the goroutine has ended
}

func newInstance(s *Supervisor, rec record) *instance {
	return &instance{s: s, rec: rec, state: runtime.Starting, stop: make(chan struct{}), done: make(chan struct{})}
}

func (in *instance) requestStop() {
	in.s.mu.Lock()
	if in.stopAsked {
		in.s.mu.Unlock()
		return
	}
	in.stopAsked = true
	in.rec.Stopping = true
	rec := in.rec
	in.s.mu.Unlock()
	// recorded before the stop begins, so that the record cannot outlive the cleanup
	ctx, cancel := context.WithTimeout(context.WithoutCancel(in.s.ctx), 5*time.Second)
	if err := in.s.o.Store.Put(ctx, store.InstanceKey(rec.App, rec.ID), rec); err != nil {
		in.s.log.Error("record that the instance is stopping; a crash now would restart it", "instance", rec.ID, "err", err)
	}
	cancel()
	close(in.stop)
}

func (in *instance) addr() string { return "127.0.0.1:" + strconv.Itoa(in.rec.Port) }

func (in *instance) snapshotLocked() runtime.Instance {
	admin := ""
	if in.rec.AdminPort != 0 {
		admin = "127.0.0.1:" + strconv.Itoa(in.rec.AdminPort)
	}
	return runtime.Instance{ID: in.rec.ID, App: in.rec.App, Revision: in.rec.Revision, Addr: in.addr(), AdminAddr: admin, PID: in.rec.PID,
		State: in.state, Restarts: in.rec.Restarts, StartedAt: in.rec.StartedAt, ReadySince: in.readySince,
		Message: in.message, Limits: in.limits}
}

func (in *instance) set(state runtime.State, msg string) {
	in.s.mu.Lock()
	changed := in.state != state || in.message != msg
	if !in.stopping || state == runtime.Stopping {
		in.state = state
	}
	in.message = msg
	if state == runtime.Ready {
		if in.readySince.IsZero() {
			in.readySince = time.Now()
		}
	} else {
		in.readySince = time.Time{}
	}
	in.s.mu.Unlock()
	if changed {
		in.s.subs.Notify(in.rec.App)
	}
}

// proc is the running process of an instance, started by us or adopted.
type proc struct {
	pid    int
	exited chan struct{} // closed when the process is gone
	status string        // why it ended, once exited is closed
}

// run is the instance's life: start (or adopt), probe, restart on exit, stop on request.
func (in *instance) run(adopted bool) {
	defer in.s.wg.Done()
	defer close(in.done)
	log := in.s.log.With("app", in.rec.App, "instance", in.rec.ID, "revision", in.rec.Revision)
	quickExits := 0
	for {
		var p *proc
		var err error
		if adopted {
			p = watchAdopted(in.s.ctx, in.rec.PID, in.rec.StartTime)
			adopted = false
			log.Info("re-adopted instance", "pid", in.rec.PID)
		} else {
			p, err = in.start()
			if err != nil {
				log.Error("start instance", "err", err)
				in.set(runtime.Backoff, "start failed: "+err.Error())
				p = nil
			}
		}
		started := time.Now()
		reason := errStopped
		if p != nil {
			reason = in.supervise(p)
		} else if err != nil {
			reason = fmt.Errorf("start failed: %w", err)
		}
		stopAsked := false
		select {
		case <-in.stop:
			stopAsked = true
		default:
		}
		if !stopAsked && in.s.ctx.Err() != nil {
			// the supervisor closes without stopping instances: this one stays running
			// and registered, for the next supervisor to adopt
			return
		}
		in.deregister()
		if stopAsked {
			if p != nil {
				in.gracefulStop(p)
			}
			in.cleanup()
			return
		}
		// the process exited or failed its liveness probe: restart after a backoff
		if time.Since(started) >= in.s.o.Backoff.Reset {
			quickExits = 0
		}
		quickExits++
		delay := in.s.o.Backoff.delay(quickExits)
		msg := reason.Error()
		log.Warn("instance ended; restarting", "reason", msg, "in", delay)
		in.set(runtime.Backoff, fmt.Sprintf("%s; restart in %s", msg, delay))
		select {
		case <-in.stop:
			in.cleanup()
			return
		case <-in.s.ctx.Done():
			return
		case <-time.After(delay):
		}
		in.s.mu.Lock()
		in.rec.Restarts++
		in.s.mu.Unlock()
	}
}

// start launches the instance's process in its own session, with its output going
// straight to its log file: no pipe, so the process outlives tend.
func (in *instance) start() (*proc, error) {
	t := in.rec.Template
	if in.s.o.Verify != nil {
		if err := in.s.o.Verify(in.s.artifact(t.Artifact)); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cred, err := in.s.Credential(in.s.ctx, t.App)
	if err != nil {
		return nil, err
	}
	dir, err := in.s.makeWorkDir(in.rec.ID, cred)
	if err != nil {
		return nil, err
	}
	logPath := logs.Path(in.s.dataDir, t.App, in.rec.ID)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open instance log: %w", err)
	}
	defer out.Close()
	home := os.Getenv("HOME")
	if cred != nil {
		// tend's home is not theirs to read
		home = dir
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir()}
	// before the spec's env, which wins: where spans go, and what they are about
	env = append(env, in.s.o.Env...)
	env = append(env, "OTEL_RESOURCE_ATTRIBUTES=tend.app="+t.App+",tend.revision="+strconv.Itoa(t.Revision)+",service.instance.id="+in.rec.ID)
	for k, v := range t.Env {
		env = append(env, k+"="+v)
	}
	values, err := in.s.openSecrets(t)
	if err != nil {
		return nil, err
	}
	if err := writeFiles(dir, cred, t.Files, values); err != nil {
		return nil, err
	}
	// secrets come before tend's own variables, which the last entry of a name wins
	secrets, err := secretEnv(t, values)
	if err != nil {
		return nil, err
	}
	own := []string{"PORT=" + strconv.Itoa(port), "ADMIN_PORT=" + strconv.Itoa(adminPort), "TEND_APP=" + t.App, "TEND_REVISION=" + strconv.Itoa(t.Revision),
		"TEND_INSTANCE=" + in.rec.ID, markerVar + "=" + in.s.owner}
	// secrets are not expanded in the arguments, which ps shows to every user
	args := expandArgs(t.Args, append(env, own...))
	env = append(append(env, secrets...), own...)
	cmd := exec.Command(in.s.artifact(t.Artifact), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: cred}
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", cmd.Path, err)
	}
	p := &proc{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.status = exitStatus(err)
		close(p.exited)
	}()
	st, _ := StartTime(p.pid)
	in.s.mu.Lock()
	in.rec.PID, in.rec.StartTime, in.rec.Port, in.rec.AdminPort, in.rec.StartedAt = p.pid, st, port, adminPort, time.Now()
	in.limits = in.s.limits.apply(in.rec.ID, p.pid, t.Resources)
	rec := in.rec
	in.s.mu.Unlock()
	if err := in.s.o.Store.Put(in.s.ctx, store.InstanceKey(t.App, in.rec.ID), rec); err != nil {
		in.s.log.Error("record instance; a crash now would leave it for the stray sweep", "instance", in.rec.ID, "err", err)
	}
	in.set(runtime.Starting, "started pid "+strconv.Itoa(p.pid))
	return p, nil
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + strconv.Itoa(int(ws.Signal()))
		}
		return "exited with status " + strconv.Itoa(ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exited with status 0"
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// register puts the instance in the service registry, where the gateway finds it.
func (in *instance) register() {
	ep := store.Endpoint{Name: in.rec.App, Address: "127.0.0.1", Port: in.rec.Port, Metadata: map[string]string{
		"revision": strconv.Itoa(in.rec.Revision), "instance": in.rec.ID, "managedBy": "tend"}}
	if err := in.s.o.Store.PutLeased(in.s.ctx, store.ServiceKey(in.rec.App, in.addr()), ep); err != nil {
		in.s.log.Error("register instance", "instance", in.rec.ID, "err", err)
	}
}

func (in *instance) deregister() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(in.s.ctx), 5*time.Second)
	defer cancel()
	if err := in.s.o.Store.Delete(ctx, store.ServiceKey(in.rec.App, in.addr())); err != nil {
		in.s.log.Error("deregister instance", "instance", in.rec.ID, "err", err)
	}
}

// gracefulStop drains the instance, sends SIGTERM, and SIGKILL after the grace period.
func (in *instance) gracefulStop(p *proc) {
	t := in.rec.Template
	in.set(runtime.Stopping, "draining")
	drain := t.Shutdown.Drain
	if drain <= 0 {
		drain = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	if in.s.o.BeforeStop != nil {
		in.s.mu.Lock()
		snap := in.snapshotLocked()
		in.s.mu.Unlock()
		if err := in.s.o.BeforeStop(ctx, snap); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			in.s.log.Warn("drain before stop", "instance", in.rec.ID, "err", err)
		}
	} else {
		<-ctx.Done()
	}
	cancel()
	in.set(runtime.Stopping, "SIGTERM sent")
	signalGroup(p.pid, syscall.SIGTERM)
	grace := t.Shutdown.Grace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
		in.s.log.Warn("instance ignored SIGTERM for the grace period; killing it", "instance", in.rec.ID, "grace", grace)
		signalGroup(p.pid, syscall.SIGKILL)
		<-p.exited
	}
}

// cleanup forgets a stopped instance: its record, working dir and cgroup (the log stays).
func (in *instance) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.s.o.Store.Delete(ctx, store.InstanceKey(in.rec.App, in.rec.ID)); err != nil {
		in.s.log.Error("delete instance record", "instance", in.rec.ID, "err", err)
	}
	in.s.limits.release(in.rec.ID)
	removeAll(in.s.workDir(in.rec.ID))
	in.s.forget(in)
}

// expandArgs replaces $VAR and ${VAR} in args with the values in env (KEY=value lines).
func expandArgs(args, env []string) []string {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = os.Expand(a, func(k string) string { return vars[k] })
	}
	return out
}

package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/runtime/process"
)

// proc is one gateway process: a child of this server, or one adopted from an earlier server.
type proc struct {
	pid     int
	started time.Time
	exited  chan struct{}
	cmd     *exec.Cmd // nil when adopted
	err     error     // how a child ended
}

func (g *proc) status() string {
	if g.cmd == nil {
		return "ended (adopted process: exit status unknown)"
	}
	if g.err != nil {
		return g.err.Error()
	}
	return g.cmd.ProcessState.String()
}

// spawn starts a gateway on listener, in a session of its own so that it outlives this
// server, logging to DATA/gateway/gateway.log, and returns once its control socket
// answers for it.
func (p *Plane) spawn(ctx context.Context, listeners map[string]*os.File) (*proc, error) {
	paths := p.client.Paths()
	logf, err := os.OpenFile(paths.Log(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the gateway's log: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	args := []string{"gateway", "--data", p.o.DataDir, "--log-file", paths.Log()}
	if p.o.AccessLog {
		args = append(args, "--access-log")
	}
	if p.o.LogLevel != "" {
		args = append(args, "--log-level", p.o.LogLevel)
	}
	args = append(args, p.settings()...)
	cmd := exec.Command(p.o.Executable, args...)
	names := []string{gateway.ListenerHTTP}
	if _, ok := listeners[gateway.ListenerHTTPS]; ok {
		names = append(names, gateway.ListenerHTTPS)
	}
	for _, n := range names {
		cmd.ExtraFiles = append(cmd.ExtraFiles, listeners[n])
	}
	cmd.Env = append(os.Environ(), gateway.ListenerEnv+"="+strings.Join(names, ","))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the gateway (%s gateway): %w", p.o.Executable, err)
	}
	g := &proc{pid: cmd.Process.Pid, started: time.Now(), exited: make(chan struct{}), cmd: cmd}
	go func() { g.err = cmd.Wait(); close(g.exited) }()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		info, err := p.client.Info(ictx)
		cancel()
		if err == nil && info.PID == g.pid {
			p.log.Info("gateway started", "pid", g.pid, "listen", info.Listen, "log", paths.Log())
			return g, nil
		}
		p.client.CloseIdle() // an older gateway may still hold a kept connection
		select {
		case <-g.exited:
			return nil, fmt.Errorf("the gateway (pid %d) ended at start: %s; its log %s says:\n%s", g.pid, g.status(), paths.Log(), logTail(paths.Log(), logStart))
		case <-deadline.C:
			_ = g.stop(context.Background())
			return nil, fmt.Errorf("the gateway (pid %d) did not answer on %s within 15s; see %s", g.pid, paths.Control(), paths.Log())
		case <-ctx.Done():
			_ = g.stop(context.Background())
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail is what the log gained since offset, at most its last 2 KiB.
func logTail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	b = b[offset:]
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(bytes.TrimSpace(b))
}

// adoptProc follows a gateway that is not our child: it cannot be waited for, so it is polled.
func adoptProc(pid int) *proc {
	g := &proc{pid: pid, started: time.Now(), exited: make(chan struct{})}
	start, err := process.StartTime(pid)
	if err != nil {
		close(g.exited)
		return g
	}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			if st, err := process.StartTime(pid); err != nil || st != start {
				close(g.exited)
				return
			}
		}
	}()
	return g
}

// stop sends SIGTERM (the gateway stops accepting and finishes its requests), then
// SIGKILL when ctx ends first.
func (g *proc) stop(ctx context.Context) error {
	select {
	case <-g.exited:
		return nil
	default:
	}
	_ = syscall.Kill(g.pid, syscall.SIGTERM)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 70*time.Second)
		defer cancel()
	}
	select {
	case <-g.exited:
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(g.pid, syscall.SIGKILL)
		<-g.exited
		return fmt.Errorf("the gateway (pid %d) did not stop in time; killed", g.pid)
	}
}

// sameAddr reports whether a listener on have serves what want asks for.
func sameAddr(want, have string) bool {
	w, err1 := net.ResolveTCPAddr("tcp", want)
	h, err2 := net.ResolveTCPAddr("tcp", have)
	if err1 != nil || err2 != nil {
		return want == have
	}
	if w.Port != 0 && w.Port != h.Port {
		return false
	}
	if len(w.IP) == 0 || w.IP.IsUnspecified() {
		return len(h.IP) == 0 || h.IP.IsUnspecified()
	}
	return w.IP.Equal(h.IP)
}

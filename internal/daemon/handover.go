package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/store"
)

// A running server hands over to a new one (an upgraded binary, say) without refusing a
// connection: the new process inherits the API and gateway listening sockets, so
// connections wait in their backlog instead of being refused; the old one keeps its
// gateway serving from its last routing table while it gives up the data dir, and stops
// only once the new one serves. In-flight requests finish on the old process.

// Environment of a successor: the names of its inherited listeners, in file-descriptor
// order from 3, then the descriptor it writes "ready" to.
const (
	envListeners = "TEND_INHERITED_LISTENERS"
	envReadyFD   = "TEND_READY_FD"
)

// listeners returns the API listener, inherited from a predecessor or new, and the
// gateway's socket when a predecessor handed it over (the data plane binds it otherwise,
// unless a running gateway holds it). ready is where to tell the predecessor that this
// server serves (nil when there is none).
func listeners(cfg Config) (apiLn net.Listener, gw map[string]*os.File, ready *os.File, err error) {
	names := os.Getenv(envListeners)
	if names == "" {
		if apiLn, err = net.Listen("tcp", cfg.APIAddr); err != nil {
			return nil, nil, nil, fmt.Errorf("API address %s: %w (choose another with --api)", cfg.APIAddr, err)
		}
		return apiLn, nil, nil, nil
	}
	// for this process only: a successor of ours gets its own
	os.Unsetenv(envListeners)
	defer os.Unsetenv(envReadyFD)
	list := strings.Split(names, ",")
	if list[0] != "api" {
		return nil, nil, nil, fmt.Errorf("%s=%q: want api first", envListeners, names)
	}
	for _, n := range list[1:] {
		if n != gateway.ListenerHTTP && n != gateway.ListenerHTTPS && n != listenerOTLP {
			return nil, nil, nil, fmt.Errorf("%s=%q: unknown listener %q", envListeners, names, n)
		}
	}
	f := os.NewFile(3, "api")
	apiLn, err = net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("inherited api listener (fd 3): %w", err)
	}
	// kept open, not inherited: an instance or a gateway holding these would keep the
	// port bound after the gateway stopped, or the predecessor waiting for "ready"
	gw = map[string]*os.File{}
	for i, n := range list[1:] {
		fd := 4 + i
		syscall.CloseOnExec(fd)
		gw[n] = os.NewFile(uintptr(fd), n)
	}
	readyFD := 3 + len(list)
	if os.Getenv(envReadyFD) == strconv.Itoa(readyFD) {
		syscall.CloseOnExec(readyFD)
		ready = os.NewFile(uintptr(readyFD), "ready")
	}
	return apiLn, gw, ready, nil
}

// lockDataDir takes the data dir's lock; a successor waits for its predecessor to let go.
func lockDataDir(dir string, successor bool) (func(), error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		unlock, err := store.LockDir(dir)
		if err == nil || !successor || time.Now().After(deadline) {
			return unlock, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// successor is a new server started to take over from this one.
type successor struct {
	cmd   *exec.Cmd
	ready chan error // gets nil once it serves, or why it never will
}

// startSuccessor starts the executable this process runs (as it is on disk now) with the
// same arguments, handing it the API listener and the gateway's socket.
func startSuccessor(apiLn net.Listener, gw map[string]*os.File) (*successor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find tend's executable: %w", err)
	}
	exe = strings.TrimSuffix(exe, " (deleted)") // replaced on disk: start the new file
	if out, err := exec.Command(exe, "version").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the new executable %s does not run: %w: %s", exe, err, out)
	}
	tl, ok := apiLn.(*net.TCPListener)
	if !ok {
		return nil, errors.New("listener is not TCP")
	}
	api, err := tl.File()
	if err != nil {
		return nil, fmt.Errorf("share listener: %w", err)
	}
	defer api.Close()
	// the gateway's socket, unless the gateway runs on its own (it holds its socket)
	files, names := []*os.File{api}, "api"
	for _, n := range []string{gateway.ListenerHTTP, gateway.ListenerHTTPS, listenerOTLP} {
		if f, ok := gw[n]; ok {
			files, names = append(files, f), names+","+n
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envListeners+"="+names, envReadyFD+"="+strconv.Itoa(3+len(files)))
	cmd.ExtraFiles = append(files, w)
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("start the new server: %w", err)
	}
	s := &successor{cmd: cmd, ready: make(chan error, 1)}
	go func() {
		defer r.Close()
		line, err := bufio.NewReader(r).ReadString('\n')
		if strings.TrimSpace(line) == "ready" {
			s.ready <- nil
			return
		}
		// the write end closed without a word: the new server ended
		s.ready <- fmt.Errorf("the new server (pid %d) stopped before it served: %v", cmd.Process.Pid, err)
	}()
	return s, nil
}

// wait returns once the successor serves; on failure or timeout it kills it.
func (s *successor) wait(ctx context.Context) error {
	select {
	case err := <-s.ready:
		if err == nil {
			_ = s.cmd.Process.Release()
			return nil
		}
		_ = s.cmd.Wait()
		return err
	case <-ctx.Done():
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		return fmt.Errorf("the new server did not serve in time: %w", ctx.Err())
	}
}

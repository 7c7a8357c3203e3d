// Package harness drives a real tend binary for end-to-end tests and benchmarks: it builds tend, starts servers, runs the CLI and sends load through the gateway.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tendhq/tend/internal/api/v1"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles ./cmd/tend of the repository at root into dir and returns the binary's path.
func Build(root, dir string) (string, error) {
	bin := filepath.Join(dir, "tend")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tend")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build tend in %s: %w\n%s", root, err, out)
	}
	// the server runs its own executable as an app's user (a files backup's dump)
	if err := Enterable(bin); err != nil {
		return "", err
	}
	return bin, nil
}

// FreeAddr returns a loopback address with a port nobody listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Config says how to start a server; empty addresses are chosen free.
type Config struct {
	Bin     string   // the tend binary
	DataDir string   // --data
	API     string   // --api address
	Gateway string   // --gateway address
	Args    []string // more flags for `tend server`
	// CAFile, when set, is the CA of the API's certificate (Args give the server
	// --api-tls-cert and --api-tls-key): the CLI then talks https to the API.
	CAFile string
}

// Server is one running `tend server` process.
type Server struct {
	Bin, DataDir, API, Gateway string
	// URL is the API's URL (https:// with a CAFile), CAFile the CA the CLI trusts for it.
	URL, CAFile string

	cmd  *exec.Cmd
	log  LockedBuffer
	done chan struct{}
}

// Start runs `tend server` and waits up to a minute until its API answers.
func Start(c Config) (*Server, error) {
	var err error
	for _, a := range []*string{&c.API, &c.Gateway} {
		if *a == "" {
			if *a, err = FreeAddr(); err != nil {
				return nil, err
			}
		}
	}
	if err := Enterable(c.DataDir); err != nil {
		return nil, err
	}
	s := &Server{Bin: c.Bin, DataDir: c.DataDir, API: c.API, Gateway: c.Gateway, URL: "http://" + c.API, CAFile: c.CAFile, done: make(chan struct{})}
	if c.CAFile != "" {
		s.URL = "https://" + c.API
	}
	args := append([]string{"server", "--data", c.DataDir, "--api", c.API, "--gateway", c.Gateway}, c.Args...)
	s.cmd = exec.Command(c.Bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, &s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tend server: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := s.Tend("version")
		if err == nil && strings.Contains(out, "server: ") && !strings.Contains(out, "server: unreachable") && !strings.Contains(out, "server: unknown (") {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("tend server exited while starting: %s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.Crash()
			KillGateway(c.DataDir)
			return nil, fmt.Errorf("tend server did not answer within a minute: %v %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// PID is the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log is what the server wrote to stderr so far.
func (s *Server) Log() string { return s.log.String() }

// Exited reports whether the server process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// CurrentPID is the pid of the server that serves the data dir now (DATA/server.pid):
// this process, or a successor it handed over to; 0 when none is recorded.
func (s *Server) CurrentPID() int {
	b, err := os.ReadFile(filepath.Join(s.DataDir, "server.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop ends the server with SIGTERM (a normal stop) and waits for it, SIGKILL after 90 s;
// a successor it handed over to is stopped the same way.
func (s *Server) Stop() {
	if pid := s.CurrentPID(); pid > 0 && pid != s.cmd.Process.Pid && Alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(90 * time.Second)
		for Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(90 * time.Second):
		s.Crash()
	}
}

// GatewayPID is the pid of the gateway process serving the server's data dir.
func (s *Server) GatewayPID() int { return GatewayPID(s.DataDir) }

// KillGateway ends the server's gateway process, if one runs (see KillGateway): a test
// that leaves it running cleans up with this.
func (s *Server) KillGateway() { KillGateway(s.DataDir) }

// Crash ends the server with SIGKILL and waits for it.
func (s *Server) Crash() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Command prepares a CLI run against this server.
func (s *Server) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.Bin, args...)
	cmd.Env = append(os.Environ(), "TEND_API="+s.URL, "TEND_DATA="+s.DataDir, "TEND_TOKEN=", "TEND_CA_FILE="+s.CAFile)
	return cmd
}

// Tend runs the CLI and returns its combined output; err carries the exit code.
func (s *Server) Tend(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := s.Command(ctx, args...).CombinedOutput()
	return string(out), err
}

// SetSecret is `tend secret set APP NAME` with value on stdin; it returns the output.
func (s *Server) SetSecret(app, name, value string, flags ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := s.Command(ctx, append([]string{"secret", "set", app, name}, flags...)...)
	cmd.Stdin = strings.NewReader(value + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tend secret set %s %s: %w\n%s", app, name, err, out)
	}
	return string(out), nil
}

// Status is `tend status APP -o json`.
func (s *Server) Status(app string) (v1.App, error) {
	var st v1.App
	out, err := s.Tend("status", app, "-o", "json")
	if err != nil {
		return st, fmt.Errorf("tend status %s: %w: %s", app, err, out)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("decode tend status: %w: %s", err, out)
	}
	return st, nil
}

// Get fetches path from the gateway with header pairs ("Host" sets the request's host)
// and returns status, X-Revision and body.
func (s *Server) Get(client *http.Client, path string, header ...string) (int, string, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.Gateway+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		if http.CanonicalHeaderKey(header[i]) == "Host" {
			req.Host = header[i+1] // Go sends req.Host, never a Host header
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Revision"), string(b), err
}

// ExitCode is the exit status of a CLI run: 0 when err is nil, -1 when it did not run.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Alive reports whether a process with pid runs: it exists and is not a zombie (an
// instance that exited after its server was killed waits as a zombie until init reaps it).
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// LockedBuffer collects a child process's output while others read it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// HandOver sends SIGUSR2 to the server serving now and waits until a successor serves
// and the old process is gone.
func (s *Server) HandOver(timeout time.Duration) error {
	old := s.CurrentPID()
	if old == 0 {
		return errors.New("no server.pid in the data dir")
	}
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		return fmt.Errorf("signal server %d: %w", old, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		now := s.CurrentPID()
		if !Alive(old) && now != old && now != 0 && Alive(now) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %d did not hand over within %s (server.pid says %d)", old, timeout, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Enterable lets other users enter the dirs between the temp dir and dir (test temp dirs
// are 0700), as instances running as users of their own must when tend runs as root.
func Enterable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(abs); strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o111); err != nil {
			return fmt.Errorf("let instances enter %s: %w", d, err)
		}
	}
	return nil
}

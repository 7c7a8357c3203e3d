package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// server is a `tend server` whose gateway process is measured, with the backend
// deployed by `tend deploy`, as a user runs it.
type server struct {
	cmd     *exec.Cmd
	env     []string
	bin     string
	gateway string // what the bench measures: the HTTPS address with TLS
}

// startServer starts `tend server` on a data dir in tmp and deploys this program as app
// bench (one instance, answering size bytes), routed for every host; with tf, served
// over HTTPS too with tf's certificate (route.tls cert and key) for tlsHost.
func startServer(bin, self, tmp string, size int, tf *tlsFiles, grpc bool) (*server, error) {
	data := filepath.Join(tmp, "tend-data")
	api, gw := freeAddr(), freeAddr()
	logf, err := os.Create(filepath.Join(tmp, "tend-server.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s := &server{bin: bin, gateway: gw, env: append(os.Environ(), "TEND_DATA="+data, "TEND_API=http://"+api, "TEND_TOKEN=")}
	s.cmd = exec.Command(bin, "server", "--api", api, "--gateway", gw)
	route := ""
	if tf != nil {
		https := freeAddr()
		s.cmd.Args = append(s.cmd.Args, "--https", https)
		s.gateway = https
		proto := ""
		if grpc {
			proto = "protocol: http2, "
		}
		route = fmt.Sprintf("route: {hosts: [%s], %stls: {cert: %s, key: %s, redirect: false}}\n", tlsHost, proto, tf.cert, tf.key)
	}
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tend server: %w", err)
	}
	if !waitListening(api) {
		s.stop()
		return nil, fmt.Errorf("tend server did not listen on %s; see %s", api, logf.Name())
	}
	spec := filepath.Join(tmp, "tend.yaml")
	yaml := fmt.Sprintf(`app: bench
build: {binary: %s}
instances: 1
env: {GWBENCH_ROLE: backend, GWBENCH_SIZE: "%d"}
health:
  readiness: {http: /}
metrics: false
`, self, size) + route
	if grpc { // the greeter (tools/grpc/canary/server): a gRPC readiness probe
		yaml = strings.Replace(yaml, "readiness: {http: /}", `readiness: {grpc: {service: ""}}`, 1)
	}
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		s.stop()
		return nil, err
	}
	var out []byte
	for try := 0; try < 50; try++ { // the API answers a moment after it listens
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		deploy := exec.CommandContext(ctx, bin, "deploy", "-f", spec)
		deploy.Env = s.env
		out, err = deploy.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), "unreachable") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("tend deploy: %w\n%s", err, out)
	}
	return s, nil
}

// stop stops the server normally: its instance and its gateway stop with it.
func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
)

// supervise probes a running process until it exits, fails its liveness probe, or a
// stop is asked for; it returns why it ended.
func (in *instance) supervise(p *proc) error {
	t := in.rec.Template
	ready := t.Health.Readiness
	live, anyAnswer := t.Health.Liveness, false
	if live == nil {
		live, anyAnswer = defaultLiveness(ready), true
	}
	first := 50 * time.Millisecond
	if ready != nil && ready.InitialDelay > 0 {
		first = ready.InitialDelay
	}
	readyT := time.NewTimer(first)
	defer readyT.Stop()
	var liveC <-chan time.Time
	var lt *time.Ticker
	if live != nil {
		lt = time.NewTicker(live.Interval)
		defer lt.Stop()
		if !anyAnswer {
			liveC = lt.C
		}
		// the default check starts once the instance was first ready: an app that takes
		// long to start is not dead
	}
	isReady := false
	okRun, failRun, liveFails := 0, 0, 0
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s", p.status)
		case <-in.stop:
			return errStopped
		case <-in.s.ctx.Done():
			return errStopped
		case <-readyT.C:
			err := in.check(ready, false)
			next := interval(ready)
			if err == nil {
				okRun, failRun = okRun+1, 0
				if !isReady && okRun >= successThreshold(ready) {
					isReady = true
					if lt != nil && liveC == nil {
						lt.Reset(live.Interval)
						liveC = lt.C
					}
					in.register()
					in.set(runtime.Ready, "")
				}
			} else {
				okRun, failRun = 0, failRun+1
				if isReady && failRun >= failureThreshold(ready) {
					isReady = false
					in.deregister()
					in.set(runtime.Unready, "readiness probe failed: "+err.Error())
				} else if !isReady {
					in.set(runtime.Starting, "not ready yet: "+err.Error())
				}
			}
			if !isReady {
				next = min(next, 250*time.Millisecond) // come up fast: probe often until ready
			}
			readyT.Reset(next)
		case <-liveC:
			if err := in.check(live, anyAnswer); err == nil {
				liveFails = 0
			} else if liveFails++; liveFails >= failureThreshold(live) {
				signalGroup(p.pid, syscall.SIGKILL)
				<-p.exited
				return fmt.Errorf("liveness probe failed %d times (%v); killed", liveFails, err)
			}
		}
	}
}

func interval(p *spec.Probe) time.Duration {
	if p == nil || p.Interval <= 0 {
		return time.Second
	}
	return p.Interval
}

func successThreshold(p *spec.Probe) int {
	if p == nil || p.SuccessThreshold < 1 {
		return 1
	}
	return p.SuccessThreshold
}

func failureThreshold(p *spec.Probe) int {
	if p == nil || p.FailureThreshold < 1 {
		return 3
	}
	return p.FailureThreshold
}

// Tunables of the default liveness check (variables for the tests).
var (
	defaultLiveInterval = spec.DefaultLivenessInterval
	defaultLiveTimeout  = 2 * time.Second
)

// defaultLiveness is the liveness check of an instance whose spec has none: its
// readiness probe, every 10s with a 2s timeout and 3 failures allowed, where any answer
// counts as alive (an instance that is not ready is not dead), from the instance's first
// readiness on (an app that takes long to start is not dead either): a process that
// stops answering at all (hung, deadlocked, SIGSTOPped) is killed and restarted. A TCP
// readiness probe cannot tell a hung process (the kernel still accepts for it), so
// without an HTTP or gRPC probe there is no default.
func defaultLiveness(ready *spec.Probe) *spec.Probe {
	if ready == nil || ready.HTTP == "" && ready.GRPC == nil {
		return nil
	}
	return &spec.Probe{HTTP: ready.HTTP, GRPC: ready.GRPC, Interval: defaultLiveInterval,
		Timeout: max(ready.Timeout, defaultLiveTimeout), FailureThreshold: 3, SuccessThreshold: 1}
}

// check runs one probe: an HTTP GET answered with 2xx or 3xx, a gRPC health check
// answered SERVING, or (tcp, or without a probe) a TCP connect. With anyAnswer, any
// HTTP status or gRPC answer passes: only silence fails.
func (in *instance) check(p *spec.Probe, anyAnswer bool) error {
	timeout := time.Second
	if p != nil && p.Timeout > 0 {
		timeout = p.Timeout
	}
	if p != nil && p.GRPC != nil {
		ctx, cancel := context.WithTimeout(in.s.ctx, timeout)
		defer cancel()
		err := checkGRPC(ctx, in.addr(), p.GRPC.Service)
		if anyAnswer && errors.Is(err, errNotServing) {
			return nil
		}
		return err
	}
	if p == nil || p.HTTP == "" {
		c, err := net.DialTimeout("tcp", in.addr(), timeout)
		if err != nil {
			return err
		}
		return c.Close()
	}
	ctx, cancel := context.WithTimeout(in.s.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.addr()+p.HTTP, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "tend-probe")
	resp, err := in.s.probe.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !anyAnswer && (resp.StatusCode < 200 || resp.StatusCode >= 400) {
		return fmt.Errorf("GET %s answered %d", p.HTTP, resp.StatusCode)
	}
	return nil
}

// checkGRPC asks the grpc.health.v1 service at addr whether service is SERVING.
func checkGRPC(ctx context.Context, addr, service string) error {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return fmt.Errorf("gRPC health check of %q: %w", service, err)
		}
		// the server answered (UNIMPLEMENTED without a health service, NOT_FOUND for an
		// unknown service): not serving, but alive
		return fmt.Errorf("gRPC health check of %q: %w (%w)", service, err, errNotServing)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("gRPC health check of %q answered %s: %w", service, st, errNotServing)
	}
	return nil
}

// errNotServing is a gRPC health check that the server answered, though not SERVING.
var errNotServing = errors.New("not serving")

package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// runProcess runs a gateway process in this test process on dir and returns its
// address; stop ends it and waits.
func runProcess(t *testing.T, dir string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunProcess(ctx, ProcessOptions{Dir: dir, Listen: "127.0.0.1:0", Version: "test", Ready: func(a string) { ready <- a }})
	}()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway process: %v", err)
		}
	}
	t.Cleanup(stop)
	c := NewClient(dir)
	t.Cleanup(c.CloseIdle)
	// a gateway without a saved routing serves only after the first push
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case a := <-ready:
			return a, stop
		case err := <-done:
			t.Fatalf("gateway process ended: %v", err)
		default:
		}
		if _, err := c.Info(context.Background()); err == nil {
			select {
			case a := <-ready:
				return a, stop
			case <-time.After(100 * time.Millisecond):
				return "", stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway process did not answer on its control socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcessServesPushedRoutingAndKeepsItAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	b := startBackend(t, "b1", nil)
	addr, stop := runProcess(t, dir)
	if addr != "" {
		t.Fatalf("a gateway without any routing serves on %s before the first push", addr)
	}
	c := NewClient(dir)
	defer c.CloseIdle()
	r := Routing{Version: 7, Routes: []route.Route{{App: "hello", PathPrefix: "/", Splits: []route.Split{{Revision: 1, Weight: 100}}}},
		Endpoints: []store.Endpoint{b.endpoint("hello", 1)}}
	if err := c.Push(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Routing != 7 || info.Listen == "" {
		t.Fatalf("info after a push: %+v, want routing 7 and an address", info)
	}
	if code, body, _ := do(t, "GET", "http://"+info.Listen+"/"); code != 200 || body != "b1" {
		t.Fatalf("through the gateway: %d %q", code, body)
	}
	stop()

	// a new gateway on the same dir serves the saved routing before any server speaks
	addr, _ = runProcess(t, dir)
	if addr == "" {
		t.Fatal("the restarted gateway does not serve its saved routing")
	}
	if code, body, _ := do(t, "GET", "http://"+addr+"/"); code != 200 || body != "b1" {
		t.Fatalf("restarted gateway without a push: %d %q", code, body)
	}
	info, err = c.Info(context.Background())
	if err != nil || info.Routing != 7 {
		t.Fatalf("restarted gateway's info: %+v %v, want routing 7", info, err)
	}
}

func TestProcessHeartbeatAgeAndMetrics(t *testing.T) {
	dir := t.TempDir()
	runProcess(t, dir)
	c := NewClient(dir)
	defer c.CloseIdle()
	if err := c.Push(context.Background(), Routing{Version: 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(context.Background(), 2); !errors.Is(err, ErrStale) {
		t.Fatalf("heartbeat of another version: %v, want ErrStale", err)
	}
	if err := c.Heartbeat(context.Background(), 3); err != nil {
		t.Fatalf("heartbeat of the current version: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	mfs, err := c.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 && m[0].GetGauge() != nil {
			got[mf.GetName()] = m[0].GetGauge().GetValue()
		}
	}
	if got["tend_gateway_config_version"] != 3 {
		t.Errorf("tend_gateway_config_version = %v, want 3", got["tend_gateway_config_version"])
	}
	if age := got["tend_gateway_config_age_seconds"]; age < 1 || age > 30 {
		t.Errorf("tend_gateway_config_age_seconds = %v, want about 1 s after the last heartbeat", age)
	}
	if _, ok := got["tend_gateway_process_resident_memory_bytes"]; !ok {
		t.Errorf("no tend_gateway_process_resident_memory_bytes among %d families", len(mfs))
	}
}

func TestProcessHandsItsSocketToTheServer(t *testing.T) {
	dir := t.TempDir()
	_, stop := runProcess(t, dir)
	c := NewClient(dir)
	defer c.CloseIdle()
	if err := c.Push(context.Background(), Routing{Version: 1}); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, err := FetchListeners(filepath.Join(dir, "listeners.sock"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := files["gateway"]
	if f == nil {
		t.Fatalf("listeners: %v, want gateway", files)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != info.Listen {
		t.Fatalf("handed socket listens on %s, the gateway on %s", ln.Addr(), info.Listen)
	}
	stop()
	// the gateway is gone, the socket is not: a client connects and waits in the backlog
	conn, err := net.DialTimeout("tcp", info.Listen, time.Second)
	if err != nil {
		t.Fatalf("after the gateway ended, its address refuses connections: %v", err)
	}
	conn.Close()
	if _, err := c.Info(context.Background()); err == nil || !strings.Contains(err.Error(), "control.sock") {
		t.Errorf("info from a stopped gateway: %v, want an error naming its control socket", err)
	}
}

func TestProcessDrainsAnInstanceTheServerRemoved(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	b := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) { <-release })
	runProcess(t, dir)
	c := NewClient(dir)
	defer c.CloseIdle()
	route := []route.Route{{App: "hello", PathPrefix: "/"}}
	if err := c.Push(context.Background(), Routing{Version: 1, Routes: route, Endpoints: []store.Endpoint{b.endpoint("hello", 1)}}); err != nil {
		t.Fatal(err)
	}
	info, _ := c.Info(context.Background())
	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + info.Listen + "/")
		if err != nil {
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	for b.hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() { drained <- c.Drain(context.Background(), b.Listener.Addr().String()) }()
	if err := c.Push(context.Background(), Routing{Version: 2, Routes: route}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-drained:
		t.Fatalf("drain returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if code := <-inflight; code != 200 {
		t.Fatalf("the in-flight request got %d", code)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}

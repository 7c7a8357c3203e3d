package dataplane_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/cli"
	"github.com/tendhq/tend/internal/dataplane"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// TestMain lets this test binary be the gateway process the planes under test start
// (`EXE gateway ...`), as the tend binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "gateway" {
		cli.Execute()
	}
	os.Exit(m.Run())
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// routeBackend deploys, in the store, app hello with one endpoint answering name.
func routeBackend(t *testing.T, st *store.Store, name string) {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) }))
	t.Cleanup(b.Close)
	host, port, _ := net.SplitHostPort(b.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	ctx := context.Background()
	if err := st.Put(ctx, store.RouteKey("hello"), route.Route{App: "hello", PathPrefix: "/", Splits: []route.Split{{Revision: 1, Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	ep := store.Endpoint{Name: "hello", Address: host, Port: p, Metadata: map[string]string{"revision": "1", "instance": name}}
	if err := st.PutLeased(ctx, store.ServiceKey("hello", ep.HostPort()), ep); err != nil {
		t.Fatal(err)
	}
}

func get(addr string) (string, error) {
	return body(&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, "http://"+addr+"/")
}

// body is url's answer, or an error unless it is a 200.
func body(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return string(b), err
}

func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gatewayPID(t *testing.T, dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "gateway", "gateway.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) }

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || strings.Contains(string(b), ") Z ")
}

func start(t *testing.T, dir, addr string, st *store.Store) *dataplane.Plane {
	t.Helper()
	p := dataplane.New(dataplane.Options{DataDir: dir, Addr: addr, Store: st})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestThePlaneFollowsTheStoreAndRestartsADeadGateway(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr := freeAddr(t)
	p := start(t, dir, addr, st)
	defer p.Stop(context.Background(), false)
	if p.Addr() != addr {
		t.Fatalf("gateway serves on %s, want %s", p.Addr(), addr)
	}
	routeBackend(t, st, "one")
	eventually(t, "a route put in the store reaches the gateway", func() error {
		body, err := get(addr)
		if err == nil && body != "one" {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	})
	first := p.PID()
	if first == 0 || gatewayPID(t, dir) != first {
		t.Fatalf("gateway pid %d, gateway.pid says %d", first, gatewayPID(t, dir))
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new gateway serves after kill -9", func() error {
		if p.PID() == first {
			return fmt.Errorf("still pid %d", first)
		}
		_, err := get(addr)
		return err
	})
	second := p.PID()
	if err := p.Stop(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if alive(second) {
		t.Fatalf("gateway %d still runs after Stop without keep", second)
	}
	if _, err := get(addr); err == nil {
		t.Fatal("the gateway address still answers after the plane stopped its gateway")
	}
}

func TestAKeptGatewayServesAloneAndTheNextPlaneAdoptsIt(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr := freeAddr(t)
	p := start(t, dir, addr, st)
	routeBackend(t, st, "kept")
	eventually(t, "routed", func() error { _, err := get(addr); return err })
	pid := p.PID()
	if err := p.Stop(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	// no server: the gateway serves its last routing
	if body, err := get(addr); err != nil || body != "kept" {
		t.Fatalf("without a server: %q %v", body, err)
	}
	next := start(t, dir, addr, st)
	defer next.Stop(context.Background(), false)
	if next.PID() != pid {
		t.Fatalf("the next plane runs gateway %d, want the adopted %d", next.PID(), pid)
	}
	if body, err := get(addr); err != nil || body != "kept" {
		t.Fatalf("after adoption: %q %v", body, err)
	}
	// the adopted gateway is still supervised: killed, it is replaced
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the adopted gateway replaced after kill -9", func() error {
		if next.PID() == pid {
			return fmt.Errorf("still pid %d", pid)
		}
		_, err := get(addr)
		return err
	})
}

func TestAPlaneOnAnotherAddressReplacesTheGateway(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	first := freeAddr(t)
	p := start(t, dir, first, st)
	old := p.PID()
	_ = p.Stop(context.Background(), true)
	second := freeAddr(t)
	next := start(t, dir, second, st)
	defer next.Stop(context.Background(), false)
	if next.Addr() != second || next.PID() == old {
		t.Fatalf("plane on %s: gateway %d on %s, want a new gateway on %s", second, next.PID(), next.Addr(), second)
	}
	eventually(t, "the old gateway to stop", func() error {
		if alive(old) {
			return fmt.Errorf("gateway %d on %s still runs", old, first)
		}
		return nil
	})
}

// runStandalone starts `tend gateway --listen addr` on the data dir as a user's
// supervisor (systemd, say) would, and returns it.
func runStandalone(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "gateway", "--data", dir, "--listen", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "the standalone gateway answers on its control socket", func() error {
		if gatewayPID(t, dir) != cmd.Process.Pid {
			return fmt.Errorf("gateway.pid says %d", gatewayPID(t, dir))
		}
		return nil
	})
	return cmd
}

func TestAGatewayRunOnItsOwnIsFedNeverReplacedOrStopped(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr := freeAddr(t)
	own := runStandalone(t, dir, addr)

	other := dataplane.New(dataplane.Options{DataDir: dir, Addr: freeAddr(t), Store: st})
	if err := other.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "--gateway "+addr) {
		t.Fatalf("a server on another address than the gateway run on its own: %v, want an error naming --gateway %s", err, addr)
	}
	if !alive(own.Process.Pid) {
		t.Fatal("the refused server stopped the gateway run on its own")
	}

	p := start(t, dir, addr, st)
	if p.PID() != own.Process.Pid {
		t.Fatalf("plane runs gateway %d, want the standalone %d", p.PID(), own.Process.Pid)
	}
	routeBackend(t, st, "fed")
	eventually(t, "the standalone gateway serves the store's routes", func() error {
		body, err := get(addr)
		if err == nil && body != "fed" {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	})

	// its supervisor restarts it: the plane adopts the new one and feeds it
	_ = own.Process.Kill()
	_ = own.Wait()
	again := runStandalone(t, dir, addr)
	eventually(t, "the plane adopts the restarted gateway", func() error {
		if p.PID() != again.Process.Pid {
			return fmt.Errorf("plane follows %d", p.PID())
		}
		return nil
	})
	if err := p.Stop(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if !alive(again.Process.Pid) {
		t.Fatal("a normal stop of the server stopped the gateway run on its own")
	}
	if body, err := get(addr); err != nil || body != "fed" {
		t.Fatalf("after the server stopped: %q %v", body, err)
	}
}

// The server's gateway limits reach the gateway process it starts.
func TestTheGatewayGetsTheServersLimits(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr := freeAddr(t)
	routeBackend(t, st, "one")
	p := dataplane.New(dataplane.Options{DataDir: dir, Addr: addr, Store: st, Limits: gateway.ServerOptions{MaxConnsPerClient: 2}})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background(), false)
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond) // the gateway accepts them in order
	answered := 0
	for _, c := range conns {
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if b, err := io.ReadAll(io.LimitReader(c, 12)); err == nil && strings.HasPrefix(string(b), "HTTP/1.1 200") {
			answered++
		}
	}
	if answered != 2 {
		t.Errorf("%d of 3 connections from one address were answered, want 2 (--max-conns-per-client 2)", answered)
	}
	// a server with other limits replaces the gateway it finds, on the same sockets
	first := p.PID()
	if err := p.Stop(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	next := dataplane.New(dataplane.Options{DataDir: dir, Addr: addr, Store: st, Limits: gateway.ServerOptions{MaxConnsPerClient: 3}})
	if err := next.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer next.Stop(context.Background(), false)
	if next.PID() == first {
		t.Errorf("the next server with other limits adopted gateway %d as it was, want it replaced", first)
	}
	eventually(t, "the old gateway to stop", func() error {
		if alive(first) {
			return fmt.Errorf("pid %d still runs", first)
		}
		return nil
	})
}

// The store's watches of routes and endpoints are separate streams: an endpoint's change
// may arrive after a route's change of a later revision, so a change of the routing
// does not always move its revision. The gateway gets it all the same.
func TestAChangeThatKeepsTheRevisionReachesTheGateway(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr := freeAddr(t)
	p := start(t, dir, addr, st)
	defer p.Stop(context.Background(), false)
	routeBackend(t, st, "one")
	eventually(t, "the route reaches the gateway", func() error {
		body, err := get(addr)
		if err == nil && body != "one" {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	})
	two := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "two") }))
	defer two.Close()
	host, port, _ := net.SplitHostPort(two.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	p.Refollow(func(r *gateway.Routing) {
		r.Endpoints = []store.Endpoint{{Name: "hello", Address: host, Port: n, Metadata: map[string]string{"revision": "1", "instance": "two"}}}
	})
	eventually(t, "an endpoint's late change reaches the gateway", func() error {
		body, err := get(addr)
		if err == nil && body != "two" {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	})
}

// TestRoutedReturnsOnceTheGatewayRoutesSo: the wait a rollout makes after writing a
// route ends when the gateway serves it, so the next request already follows it, and
// a route no push carried yet keeps it waiting.
func TestRoutedReturnsOnceTheGatewayRoutesSo(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	addr := freeAddr(t)
	p := start(t, dir, addr, st)
	defer p.Stop(context.Background(), false)
	routeBackend(t, st, "one")
	ctx := context.Background()
	for rev, name := range map[string]string{"2": "two", "3": "three"} {
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) }))
		defer b.Close()
		host, port, _ := net.SplitHostPort(b.Listener.Addr().String())
		n, _ := strconv.Atoi(port)
		ep := store.Endpoint{Name: "hello", Address: host, Port: n, Metadata: map[string]string{"revision": rev, "instance": name}}
		if err := st.PutLeased(ctx, store.ServiceKey("hello", ep.HostPort()), ep); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the gateway knows the three endpoints", func() error {
		for _, a := range p.State() {
			if a.App == "hello" && len(a.Endpoints) == 3 {
				return nil
			}
		}
		return fmt.Errorf("state %+v", p.State())
	})
	for i, rev := range []int{2, 3, 2} {
		want := map[int]string{2: "two", 3: "three"}[rev]
		rt := route.Route{App: "hello", PathPrefix: "/", Splits: []route.Split{{Revision: rev, Weight: 100}}}
		b, err := store.Encode(store.RouteKey("hello"), rt)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutEncoded(ctx, store.RouteKey("hello"), b); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = p.Routed(wctx, store.RouteKey("hello"), b)
		cancel()
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if body, err := get(addr); err != nil || body != want {
			t.Fatalf("change %d: the request right after Routed returned: %q %v, want %q", i, body, err, want)
		}
	}
	never, _ := store.Encode(store.RouteKey("hello"), route.Route{App: "hello", PathPrefix: "/never"})
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := p.Routed(wctx, store.RouteKey("hello"), never); err == nil {
		t.Fatal("Routed returned for a route never written")
	}
}

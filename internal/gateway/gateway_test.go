package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// net/http's server lingers 500 ms after an error answer (a 431, say) before it closes
// the connection, whatever the test has closed meanwhile.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

// backendServer answers with its name and counts requests.
type backendServer struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

func startBackend(t *testing.T, name string, h http.HandlerFunc) *backendServer {
	t.Helper()
	b := &backendServer{name: name}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) }
	}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Backend", name)
		h(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backendServer) endpoint(app string, rev int) store.Endpoint {
	host, port, _ := net.SplitHostPort(b.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return store.Endpoint{Name: app, Address: host, Port: p, Metadata: map[string]string{"revision": strconv.Itoa(rev), "instance": b.name}}
}

// serve puts a gateway in front of the given state and returns its URL.
func serve(t *testing.T, g *Gateway, routes []route.Route, eps []store.Endpoint) string {
	t.Helper()
	_, addr := startServer(t, g, routes, eps)
	return "http://" + addr
}

func do(t *testing.T, method, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestRoutesByHostPathAndDefault(t *testing.T) {
	api := startBackend(t, "api", nil)
	web := startBackend(t, "web", nil)
	shop := startBackend(t, "shop", nil)
	fallback := startBackend(t, "any", nil)
	url := serve(t, New(Options{}), []route.Route{
		{App: "api", Hosts: []string{"example.com"}, PathPrefix: "/api", Splits: []route.Split{{Revision: 1, Weight: 100}}},
		{App: "web", Hosts: []string{"example.com"}, PathPrefix: "/"},
		{App: "shop", Hosts: []string{"*.shop.test"}, PathPrefix: "/"},
		{App: "any", PathPrefix: "/"},
	}, []store.Endpoint{api.endpoint("api", 1), web.endpoint("web", 1), shop.endpoint("shop", 1), fallback.endpoint("any", 1)})
	cases := []struct{ host, path, want string }{
		{"example.com", "/api/users", "api"},
		{"EXAMPLE.com:8080", "/api", "api"},
		{"example.com", "/about", "web"},
		{"eu.shop.test", "/", "shop"},
		{"other.test", "/", "any"},
		{"127.0.0.1", "/x", "any"},
	}
	for _, c := range cases {
		if code, body, _ := do(t, "GET", url+c.path, "Host", c.host); code != 200 || body != c.want {
			t.Errorf("%s%s: %d %q, want %s", c.host, c.path, code, body, c.want)
		}
	}
}

func TestWeightsMatchesAndPreview(t *testing.T) {
	v1 := startBackend(t, "v1", nil)
	v2 := startBackend(t, "v2", nil)
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/",
		Splits:  []route.Split{{Revision: 1, Weight: 80}, {Revision: 2, Weight: 20}},
		Matches: []route.Match{{Kind: "header", Name: "X-Canary", Value: "yes", Revision: 2}, {Kind: "cookie", Name: "canary", Value: "1", Revision: 2}},
		Preview: 2, PreviewToken: "s3cret",
	}}, []store.Endpoint{v1.endpoint("hello", 1), v2.endpoint("hello", 2)})
	counts := map[string]int{}
	for i := 0; i < 2000; i++ {
		_, body, _ := do(t, "GET", url)
		counts[body]++
	}
	if counts["v2"] < 300 || counts["v2"] > 500 {
		t.Errorf("20%% weight gave %d of 2000 requests to v2 (%v)", counts["v2"], counts)
	}
	for _, h := range [][]string{{"X-Canary", "yes"}, {"Cookie", "a=b; canary=1"}, {"X-Tend-Preview", "s3cret"}} {
		for i := 0; i < 20; i++ {
			if _, body, _ := do(t, "GET", url, h...); body != "v2" {
				t.Fatalf("request with %v reached %s, want v2", h, body)
			}
		}
	}
}

func TestEmptyRevisionFallsBackAndNoInstanceIs503(t *testing.T) {
	v1 := startBackend(t, "v1", nil)
	g := New(Options{})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/", Splits: []route.Split{{Revision: 1, Weight: 50}, {Revision: 2, Weight: 50}}}},
		[]store.Endpoint{v1.endpoint("hello", 1)})
	for i := 0; i < 50; i++ {
		if code, body, _ := do(t, "GET", url); code != 200 || body != "v1" {
			t.Fatalf("%d %q: a split revision without instances must fall back to the other", code, body)
		}
	}
	g.SetState([]route.Route{{App: "hello", PathPrefix: "/", Splits: []route.Split{{Revision: 1, Weight: 100}}}}, nil)
	if code, body, _ := do(t, "GET", url); code != 503 || !strings.Contains(body, "hello has no ready instance") {
		t.Fatalf("no instances: %d %q, want 503 naming the app", code, body)
	}
}

func TestP2CSpreadsLoadOverInstances(t *testing.T) {
	var eps []store.Endpoint
	var bs []*backendServer
	for i := 0; i < 4; i++ {
		b := startBackend(t, fmt.Sprint("b", i), nil)
		bs = append(bs, b)
		eps = append(eps, b.endpoint("hello", 1))
	}
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, eps)
	for i := 0; i < 400; i++ {
		do(t, "GET", url)
	}
	for _, b := range bs {
		if n := b.hits.Load(); n < 40 {
			t.Errorf("backend %s got %d of 400 requests", b.name, n)
		}
	}
}

func TestRetryOnDeadInstanceAndEjection(t *testing.T) {
	live := startBackend(t, "live", nil)
	dead := startBackend(t, "dead", nil)
	deadEP := dead.endpoint("hello", 1)
	dead.Close() // connection refused from now on
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{live.endpoint("hello", 1), deadEP})
	for i := 0; i < 100; i++ {
		if code, body, _ := do(t, "GET", url); code != 200 || body != "live" {
			t.Fatalf("request %d: %d %q; a GET to a dead instance must be retried on another", i, code, body)
		}
	}
	if n := testutil.ToFloat64(g.metrics.retries.WithLabelValues("hello")); n < 1 || n > ejectAfter {
		t.Errorf("%v retries: want at least one, and none after the dead instance was ejected", n)
	}
	if n := testutil.ToFloat64(g.metrics.ejections.WithLabelValues("hello", "dead")); n != 1 {
		t.Errorf("dead instance ejected %v times, want 1", n)
	}
	// POST has a body and is not idempotent: no retry, a 502
	var saw502 bool
	g.SetState([]route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{deadEP})
	resp, err := http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	saw502 = resp.StatusCode == 502
	if !saw502 {
		t.Errorf("POST to a dead instance: %d, want 502", resp.StatusCode)
	}
}

func TestNeverMoreThanHalfEjected(t *testing.T) {
	var eps []store.Endpoint
	for i := 0; i < 4; i++ {
		b := startBackend(t, fmt.Sprint("bad", i), func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
		eps = append(eps, b.endpoint("hello", 1))
	}
	g := New(Options{})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, eps)
	for i := 0; i < 200; i++ {
		do(t, "GET", url)
	}
	ejected := 0
	for _, e := range g.Snapshot()[0].Endpoints {
		if e.Ejected {
			ejected++
		}
	}
	if ejected != 2 {
		t.Fatalf("%d of 4 failing instances ejected, want exactly half", ejected)
	}
}

func TestForwardedHeadersAndRequestID(t *testing.T) {
	var got http.Header
	var host string
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { got, host = r.Header.Clone(), r.Host })
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	do(t, "GET", url, "Host", "hello.localhost")
	if got.Get("X-Forwarded-For") != "127.0.0.1" || got.Get("X-Forwarded-Proto") != "http" || got.Get("X-Request-Id") == "" || host != "hello.localhost" {
		t.Errorf("backend saw host %q headers %v", host, got)
	}
	do(t, "GET", url, "X-Request-Id", "abc")
	if got.Get("X-Request-Id") != "abc" {
		t.Errorf("incoming request id replaced: %q", got.Get("X-Request-Id"))
	}
}

func TestServerSentEventsStreamUnbuffered(t *testing.T) {
	release := make(chan struct{})
	b := startBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	})
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q %v: it must arrive before the handler ends", line, err)
	}
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	b := startBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo " + line)
		rw.Flush()
	})
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	r := bufio.NewReader(conn)
	status, _ := r.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("upgrade answered %q", status)
	}
	for line, _ := r.ReadString('\n'); line != "\r\n" && line != ""; line, _ = r.ReadString('\n') {
	}
	fmt.Fprint(conn, "ping\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if echo, _ := r.ReadString('\n'); echo != "echo ping\n" {
		t.Fatalf("through the upgraded connection: %q", echo)
	}
}

func TestDrainWaitsForInFlightRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	b := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "done")
	})
	g := New(Options{})
	ep := b.endpoint("hello", 1)
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{ep})
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			result <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(body)
	}()
	<-started
	g.SetState([]route.Route{{App: "hello", PathPrefix: "/"}}, nil) // the instance left the registry
	drained := make(chan error, 1)
	go func() { drained <- g.Drain(context.Background(), ep.HostPort()) }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if body := <-result; body != "done" {
		t.Fatalf("in-flight request got %q", body)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after the request finished")
	}
}

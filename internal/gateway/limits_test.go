package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// rawExchange sends raw on a new connection to addr and reads one response.
func rawExchange(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// failedRequests is how many of the instance's requests the metrics count as 5xx.
func failedRequests(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "tend_gateway_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && strings.HasPrefix(l.GetValue(), "5") {
					n += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return n
}

func TestMalformedBodiesAreTheClientsFaultNotTheInstances(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	})
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	_, addr := startServer(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	for i := 0; i < 3*ejectAfter; i++ {
		resp := rawExchange(t, addr, "POST /upload HTTP/1.1\r\nHost: hello\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n")
		if resp.StatusCode != http.StatusBadRequest {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("request %d with a malformed chunked body: %d %s, want 400 from the gateway", i, resp.StatusCode, body)
		}
	}
	if n := testutil.ToFloat64(g.metrics.ejections.WithLabelValues("hello", "b")); n != 0 {
		t.Errorf("the instance was ejected %v times for the client's malformed bodies", n)
	}
	if n := failedRequests(t, reg); n != 0 {
		t.Errorf("tend_gateway_requests_total counts %d 5xx for the client's malformed bodies, want 0", n)
	}
	if code, body, _ := do(t, "GET", "http://"+addr+"/"); code != 200 || body != "ok" {
		t.Errorf("a good request after them: %d %q", code, body)
	}
}

func TestAnInstanceSilentPastTheResponseTimeoutGets504(t *testing.T) {
	release := make(chan struct{})
	b := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "late")
	})
	defer close(release)
	g := New(Options{ResponseTimeout: 300 * time.Millisecond})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	// a GET takes the connection loop, a POST with a body net/http's server
	if code, body, _ := do(t, "GET", url); code != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer in time") {
		t.Errorf("GET to a silent instance: %d %q, want 504", code, body)
	}
	resp, err := http.Post(url, "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("POST to a silent instance: %d, want 504", resp.StatusCode)
	}
}

func TestASlowBodyGets408AndIsNotCountedAgainstTheInstance(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	})
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg, BodyTimeout: 300 * time.Millisecond})
	_, addr := startServer(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	// 10 bytes announced, 3 sent, then nothing
	resp := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: hello\r\nContent-Length: 10\r\n\r\nabc")
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a body that stopped coming: %d, want 408", resp.StatusCode)
	}
	if n := failedRequests(t, reg); n != 0 {
		t.Errorf("tend_gateway_requests_total counts %d 5xx for a slow client, want 0", n)
	}
}

func TestHugeRequestHeadersGet431(t *testing.T) {
	b := startBackend(t, "b", nil)
	_, addr := startServer(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	big := strings.Repeat("x", 64<<10)
	resp := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: hello\r\nX-Big: "+big+"\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: %d, want 431", resp.StatusCode)
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("the instance got %d requests with 64 KiB headers, want none", n)
	}
	// 8 KiB, as a browser with many cookies may send, still passes
	resp = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: hello\r\nCookie: "+big[:8<<10]+"\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("8 KiB of headers: %d, want 200", resp.StatusCode)
	}
}

func TestARoutesMaxBodyAndTimeoutsOverrideTheDefaults(t *testing.T) {
	release := make(chan struct{})
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		fmt.Fprintf(w, "read %d", n)
	})
	defer close(release)
	g := New(Options{}) // defaults: 60s; the route says 300ms
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/", MaxBody: 1 << 20, ResponseTimeout: 300 * time.Millisecond}},
		[]store.Endpoint{b.endpoint("hello", 1)})
	post := func(path string, body io.Reader, size int64) (int, string) {
		req, _ := http.NewRequest("POST", url+path, body)
		req.ContentLength = size
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}
	two := strings.Repeat("x", 2<<20)
	if code, body := post("/", strings.NewReader(two), int64(len(two))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB with Content-Length against maxBody 1 MiB: %d %q, want 413", code, body)
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("the instance got %d requests, want none: the Content-Length said too much", n)
	}
	// without a Content-Length (chunked), the limit cuts the body as it is read
	if code, body := post("/", io.MultiReader(strings.NewReader(two)), -1); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB chunked against maxBody 1 MiB: %d %q, want 413", code, body)
	}
	if code, body := post("/", strings.NewReader("small"), 5); code != 200 || body != "read 5" {
		t.Errorf("a small body: %d %q", code, body)
	}
	if code, _, _ := do(t, "GET", url+"/slow"); code != http.StatusGatewayTimeout {
		t.Errorf("GET past the route's 300ms response timeout: %d, want 504", code)
	}
	if code, _ := post("/slow", strings.NewReader("x"), 1); code != http.StatusGatewayTimeout {
		t.Errorf("POST past the route's 300ms response timeout: %d, want 504", code)
	}
}

func TestConnectionsOverACapAreClosedAtOnce(t *testing.T) {
	b := startBackend(t, "b", nil)
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	srv, addr := startServerWith(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)},
		ServerOptions{MaxConnsPerClient: 3})
	// three kept connections, one of them handed to net/http's server (a POST)
	var held []net.Conn
	for i, req := range []string{"GET / HTTP/1.1\r\nHost: hello\r\n\r\n", "GET / HTTP/1.1\r\nHost: hello\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: hello\r\nContent-Length: 1\r\n\r\nx"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
		held = append(held, c)
	}
	if n := srv.Open(); n != 3 {
		t.Errorf("Open() = %d with three kept connections, want 3", n)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: hello\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		t.Fatal("a fourth connection from the same client was served, want it closed")
	}
	if n := testutil.ToFloat64(g.metrics.refused.WithLabelValues("client")); n != 1 {
		t.Errorf("tend_gateway_connections_refused_total{cap=\"client\"} = %v, want 1", n)
	}
	// a closed connection makes room again, also one net/http's server had
	held[2].Close()
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Open() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Open(); n != 1 {
		t.Errorf("Open() = %d after two of three were closed, want 1", n)
	}
	if code, _, _ := do(t, "GET", "http://"+addr+"/"); code != 200 {
		t.Errorf("a new connection after the others closed: %d", code)
	}
}

func TestABodyTrickledAByteAtATimeGets408(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	})
	g := New(Options{BodyTimeout: 500 * time.Millisecond})
	_, addr := startServer(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: hello\r\nContent-Length: 1000\r\n\r\n")
	answered := make(chan int, 1)
	go func() {
		code := 0
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			code = resp.StatusCode
		}
		answered <- code
	}()
	// a byte every 100ms: never 500ms between reads, but far below MinBodyRate
	for i := 0; i < 50; i++ {
		select {
		case code := <-answered:
			if code != http.StatusRequestTimeout {
				t.Fatalf("a trickled body: %d, want 408", code)
			}
			return
		case <-time.After(100 * time.Millisecond):
			c.Write([]byte("x"))
		}
	}
	t.Fatal("a body trickled a byte every 100ms for 5s got no answer, want 408 once the body timeout passed")
}

// Regression (review of the loop): the body's read deadline once stayed set after the
// body's end, and net/http then ended a slow answer with an empty 200; and the upload's
// time counted against the response timeout.
func TestASlowUploadAndASlowAnswerToItAreNotCut(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		time.Sleep(800 * time.Millisecond) // past the body timeout, within the response timeout
		fmt.Fprintf(w, "read %d", n)
	})
	g := New(Options{BodyTimeout: 400 * time.Millisecond, ResponseTimeout: 1500 * time.Millisecond})
	url := serve(t, g, []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	pr, pw := io.Pipe()
	go func() {
		// 10 pieces of 200 bytes 200ms apart: 2s of upload (longer than the response
		// timeout) at 1000 bytes/s (above MinBodyRate)
		for i := 0; i < 10; i++ {
			time.Sleep(200 * time.Millisecond)
			pw.Write([]byte(strings.Repeat("x", 200)))
		}
		pw.Close()
	}()
	resp, err := http.Post(url, "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "read 2000" {
		t.Errorf("a 2s upload answered 800ms later: %d %q, want 200 \"read 2000\"", resp.StatusCode, body)
	}
}

// A route's connect timeout bounds new connections to its instances on every path: the
// loop, the fast path and ReverseProxy's (a nanosecond is too short for any dial).
func TestARoutesConnectTimeoutBoundsNewConnections(t *testing.T) {
	b := startBackend(t, "b", nil)
	routes := []route.Route{{App: "app", Hosts: []string{"app.test"}, PathPrefix: "/", ConnectTimeout: time.Nanosecond},
		{App: "ok", Hosts: []string{"ok.test"}, PathPrefix: "/"}}
	eps := []store.Endpoint{b.endpoint("app", 1), b.endpoint("ok", 1)}
	for name, url := range map[string]string{"loop": serve(t, New(Options{}), routes, eps), "net/http": serveNetHTTP(t, New(Options{}), routes, eps)} {
		for _, method := range []string{"GET", "POST"} {
			if code, _, _ := do(t, method, url+"/", "Host", "app.test"); code != http.StatusBadGateway {
				t.Errorf("%s %s with a 1ns connect timeout: %d, want 502", name, method, code)
			}
			if code, body, _ := do(t, method, url+"/", "Host", "ok.test"); code != 200 || body != "b" {
				t.Errorf("%s %s with the default connect timeout: %d %q, want 200 b", name, method, code, body)
			}
		}
	}
}

// histogramSum is the sum of a histogram's observations over all its series.
func histogramSum(t *testing.T, reg *prometheus.Registry, name string) (sum float64, count uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
				count += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return sum, count
}

// A client that uploads slowly does not make the instance look slow: the request time
// canary analysis judges is the instance's (from the body sent to the response head);
// the client's whole exchange is a metric of its own.
func TestASlowUploadCountsAsTheClientsTimeNotTheInstances(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	})
	_, addr := startServer(t, New(Options{Registerer: reg}), appRoutes, []store.Endpoint{b.endpoint("app", 1)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\n")
	for i := 0; i < 10; i++ { // ten bytes over a second and a half
		time.Sleep(150 * time.Millisecond)
		fmt.Fprint(c, "x")
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("slow upload: %v %v", resp, err)
	}
	resp.Body.Close()
	up, n := histogramSum(t, reg, "tend_gateway_request_duration_seconds")
	all, _ := histogramSum(t, reg, "tend_gateway_exchange_duration_seconds")
	if n != 1 || up > 0.2 {
		t.Errorf("the instance's time: %d observations summing %.3fs, want 1 of well under the 1.5s upload", n, up)
	}
	if all < 1.4 {
		t.Errorf("the client's exchange took %.3fs by its metric, want the 1.5s upload in it", all)
	}
}

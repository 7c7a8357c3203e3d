package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// silence is how long a client waits for more of an answer before it concludes there is none.
const silence = 2 * time.Second

// recorder is a backend that writes down every request it gets and answers "hello",
// after 300 ms for a path under /slow.
type recorder struct {
	*backendServer
	g    *Gateway // in front of it, whose generated request ids it recognises
	mu   sync.Mutex
	seen []string
}

func startRecorder(t *testing.T, g *Gateway) *recorder {
	rec := &recorder{g: g}
	rec.backendServer = startBackend(t, "rec", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, rec.describe(r, body))
		rec.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/slow") {
			time.Sleep(300 * time.Millisecond)
		}
		fmt.Fprint(w, "hello")
	})
	return rec
}

// describe writes a request down as the backend sees it; the X-Request-Id a gateway
// made up is written as "(generated)", since each gateway numbers its own. The
// X-Forwarded-* fields are kept: both gateways see their client at 127.0.0.1.
func (rec *recorder) describe(r *http.Request, body []byte) string {
	var lines []string
	for k, vv := range r.Header {
		for _, v := range vv {
			if k == "X-Request-Id" && strings.HasPrefix(v, rec.g.reqBase) {
				v = "(generated)"
			}
			lines = append(lines, k+": "+v)
		}
	}
	slices.Sort(lines)
	return fmt.Sprintf("%s %s host=%q body=%q\n\t%s", r.Method, r.RequestURI, r.Host, body, strings.Join(lines, "\n\t"))
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.seen)
}

var appRoutes = []route.Route{{App: "app", Hosts: []string{"app.test"}, PathPrefix: "/"}}

// serveNetHTTP serves g with net/http's server alone, as the gateway did before the loop.
func serveNetHTTP(t *testing.T, g *Gateway, routes []route.Route, eps []store.Endpoint) string {
	t.Helper()
	srv := &http.Server{Handler: g, Protocols: new(http.Protocols), MaxHeaderBytes: MaxHeaderBytes}
	// as NewServer's: HTTP/1 and HTTP/2 by prior knowledge
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return "http://" + serveOn(t, g, routes, eps, srv.Serve, srv.Close)
}

// serveOn gives g its state and serves it with serve on a new 127.0.0.1 listener until
// the test ends (then stop); it returns the listener's address.
func serveOn(t *testing.T, g *Gateway, routes []route.Route, eps []store.Endpoint, serve func(net.Listener) error, stop func() error) string {
	t.Helper()
	g.SetState(routes, eps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = serve(ln) }()
	t.Cleanup(func() {
		stop()
		<-done
		g.proxy.Transport.(*http.Transport).CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// sendRaw writes the pieces over one new connection to url, pause apart, and reads the
// answers until the server closes the connection or is silent for 2 s. It returns one
// line per response (status, Connection: close, headers but Date and Content-Type,
// body) and a last line saying how the connection ended. The answers are read as
// answers to GET, or to HEAD when the stream starts with one (then it is all HEADs).
func sendRaw(url string, pieces []string, pause time.Duration) []string {
	to := &http.Request{Method: http.MethodGet}
	if strings.HasPrefix(pieces[0], "HEAD ") {
		to.Method = http.MethodHead
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		return []string{"dial: " + err.Error()}
	}
	defer c.Close()
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(pause)
		}
		if _, err := io.WriteString(c, p); err != nil {
			break // the server closed the connection early: the answers say why
		}
	}
	var out []string
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(silence))
		resp, err := http.ReadResponse(br, to)
		if err != nil {
			return append(out, "end: "+howItEnded(err))
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		// a body that ends with the connection may end with a reset (the server closed
		// with bytes of ours unread): that is its end all the same
		closeDelimited := resp.ContentLength < 0 && len(resp.TransferEncoding) == 0
		if err != nil && !(closeDelimited && errors.Is(err, syscall.ECONNRESET)) {
			body = append(body, " (body cut: "+howItEnded(err)+")"...)
		}
		var fields []string
		for k, vv := range resp.Header {
			if k != "Date" && k != "Content-Type" {
				fields = append(fields, k+": "+strings.Join(vv, ", "))
			}
		}
		slices.Sort(fields)
		out = append(out, fmt.Sprintf("%d close=%v [%s] %q", resp.StatusCode, resp.Close, strings.Join(fields, "; "), body))
	}
}

func howItEnded(err error) string {
	switch {
	// a close with unread bytes in the server's buffer is a reset: which one the client
	// sees depends on whether its last piece arrived before the close
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "silent"
	}
	return err.Error()
}

// TestLoopAndNetHTTPAnswerRawRequestsAlike sends the same bytes to a gateway served by
// its connection loop and to one served by net/http's server alone: the client must
// read the same answers, and the backends must see the same requests.
func TestLoopAndNetHTTPAnswerRawRequestsAlike(t *testing.T) {
	const host = "Host: app.test\r\n"
	get := func(path string, lines ...string) string {
		return "GET " + path + " HTTP/1.1\r\n" + host + strings.Join(lines, "") + "\r\n"
	}
	var manyFields, pipelined strings.Builder
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&manyFields, "X-Field-%d: value %d\r\n", i, i)
	}
	for i := 0; i < 40; i++ { // more than the loop's 4 KiB read buffer holds
		pipelined.WriteString(get(fmt.Sprintf("/pipelined/%d", i), "User-Agent: test-client/1.0 (pipelining a lot of requests)\r\n",
			"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"))
	}
	cases := []struct{ name, raw string }{
		{"a GET", get("/a?b=c&d=%20", "Accept: */*\r\n", "Cookie: a=b\r\n", "Cookie: c=d\r\n",
			"X-Forwarded-For: 203.0.113.7\r\n", "X-Forwarded-For: 10.0.0.1\r\n", "X-Request-Id: client-id\r\n")},
		{"hop-by-hop and forwarding fields", get("/", "Connection: keep-alive\r\n", "Keep-Alive: 300\r\n", "Te: trailers\r\n",
			"Proxy-Connection: keep-alive\r\n", "Proxy-Authorization: Basic eDp5\r\n", "Forwarded: for=6.6.6.6\r\n",
			"X-Forwarded-Host: evil.test\r\n", "X-Forwarded-Proto: https\r\n")},
		{"odd but valid values", get("/", "X-Empty:\r\n", "X-Spaces:   padded \t \r\n", "X-Utf8: caf\xc3\xa9\r\n", "x-lower: v\r\n")},
		{"two pipelined GETs", get("/1") + get("/2")},
		{"a slow GET, a GET", get("/slow") + get("/after")},
		{"a slow GET, a POST with a body", get("/slow") + "POST /2 HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello"},
		{"forty pipelined GETs", pipelined.String()},
		{"a GET, a POST with a body, a GET", get("/1") +
			"POST /2 HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello" + get("/3")},
		{"a POST without a body", "POST /form HTTP/1.1\r\n" + host + "\r\n" + get("/after")},
		{"a POST without a body, a CRLF, a GET", "POST /form HTTP/1.1\r\n" + host + "\r\n\r\n" + get("/after")},
		{"a GET, a CRLF, a GET", get("/1") + "\r\n" + get("/2")},
		{"CL.TE", "POST / HTTP/1.1\r\n" + host + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX" + get("/smuggled")},
		{"TE.CL", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n" + get("/after")},
		{"a GET, then CL.TE", get("/first") +
			"POST / HTTP/1.1\r\n" + host + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX" + get("/smuggled")},
		{"an unknown Transfer-Encoding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + get("/after")},
		{"a chunked GET", get("/", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n" + get("/after")},
		{"two Content-Lengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" + get("/after")},
		{"a GET whose body is a request", get("/", fmt.Sprintf("Content-Length: %d\r\n", len(get("/smuggled")))) + get("/smuggled") + get("/after")},
		{"a GET followed by body-looking bytes", get("/") + "name=value&other=1\r\n\r\n"},
		{"obs-fold", get("/", "X-Folded: one\r\n two\r\n") + get("/after")},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n" + get("/after")},
		{"no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n" + get("/after")},
		{"an empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n" + get("/after")},
		{"an unrouted Host", "GET / HTTP/1.1\r\nHost: other.test\r\n\r\n" + get("/after")},
		{"HTTP/1.0", "GET /old HTTP/1.0\r\n" + host + "\r\n" + get("/after")},
		{"HTTP/1.0 keep-alive", "GET /old HTTP/1.0\r\n" + host + "Connection: keep-alive\r\n\r\n" + get("/after")},
		{"Connection: close, then a request", get("/last", "Connection: close\r\n") + get("/ignored")},
		{"percent-encoded dot segments", get("/%2e%2e/") + get("/after")},
		{"absolute-form", "GET http://app.test/abs HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n" + get("/after")},
		{"lower-case method", "get / HTTP/1.1\r\n" + host + "\r\n" + get("/after")},
		{"Expect on a GET", get("/", "Expect: 100-continue\r\n") + get("/after")},
		{"a header line over 4 KiB", get("/", "X-Long: "+strings.Repeat("v", 5000)+"\r\n") + get("/after")},
		{"60 header fields", get("/", manyFields.String()) + get("/after")},
		{"101 header fields", get("/", strings.Repeat("X-Again: again\r\n", 101)) + get("/after")},
		// net/http adds Cache-Control: no-cache to the request and the loop does not; a Go
		// backend adds it again on reading, so only the wire shows the difference
		{"Pragma: no-cache", get("/", "Pragma: no-cache\r\n")},
		{"Connection naming a field", get("/", "Connection: X-Private\r\n", "X-Private: secret\r\n") + get("/after")},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: app.test\n\n" + get("/after")},
		{"a CR inside a value", get("/", "X-A: a\rb\r\n") + get("/after")},
		{"NUL inside a value", get("/", "X-A: a\x00b\r\n") + get("/after")},
		{"a space before the colon", get("/", "X-A : b\r\n") + get("/after")},
		{"a GET, then a header line over 4 KiB", get("/1") + get("/2", "X-Long: "+strings.Repeat("v", 5000)+"\r\n") + get("/3")},
		{"an upper-case Host with a port", "GET / HTTP/1.1\r\nHost: APP.test:8080\r\n\r\n"},
		{"Connection: keep-alive, close", get("/last", "Connection: keep-alive, close\r\n") + get("/ignored")},
		{"an empty X-Request-Id", get("/", "X-Request-Id:\r\n")},
		{"an empty X-Forwarded-For", get("/", "X-Forwarded-For:\r\n")},
		{"an empty X-Forwarded-For, then another", get("/", "X-Forwarded-For:\r\n", "X-Forwarded-For: 203.0.113.7\r\n")},
		{"two pipelined HEADs", "HEAD /1 HTTP/1.1\r\n" + host + "\r\nHEAD /2 HTTP/1.1\r\n" + host + "\r\n"},
		{"the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"},
	}
	// every exchange waits out 2 s of silence: run them all at once, then compare
	type run struct {
		name, raw       string
		pieces          []string
		loop, std       []string
		loopSaw, stdSaw *recorder
		loopURL, stdURL string
	}
	var runs []*run
	for _, c := range cases {
		for _, mode := range []string{"at once", "in pieces"} {
			r := &run{name: c.name + ", " + mode, raw: c.raw, pieces: []string{c.raw}}
			if mode == "in pieces" {
				r.pieces = thirds(c.raw)
			}
			g := New(Options{})
			r.loopSaw = startRecorder(t, g)
			r.loopURL = serve(t, g, appRoutes, []store.Endpoint{r.loopSaw.endpoint("app", 1)})
			g = New(Options{})
			r.stdSaw = startRecorder(t, g)
			r.stdURL = serveNetHTTP(t, g, appRoutes, []store.Endpoint{r.stdSaw.endpoint("app", 1)})
			runs = append(runs, r)
		}
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(2)
		go func() { defer wg.Done(); r.loop = sendRaw(r.loopURL, r.pieces, 50*time.Millisecond) }()
		go func() { defer wg.Done(); r.std = sendRaw(r.stdURL, r.pieces, 50*time.Millisecond) }()
	}
	wg.Wait()
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if !slices.Equal(r.loop, r.std) {
				t.Errorf("%q\nanswered by the loop:\n\t%s\nby net/http:\n\t%s", r.raw, strings.Join(r.loop, "\n\t"), strings.Join(r.std, "\n\t"))
			}
			if l, s := r.loopSaw.requests(), r.stdSaw.requests(); !slices.Equal(l, s) {
				t.Errorf("%q\nbehind the loop the backend saw:\n%s\nbehind net/http:\n%s", r.raw, strings.Join(l, "\n"), strings.Join(s, "\n"))
			}
		})
	}
}

// thirds cuts s in three pieces.
func thirds(s string) []string {
	a, b := len(s)/3, 2*len(s)/3
	return []string{s[:a], s[a:b], s[b:]}
}

// startServer serves g with NewServer, as tend gateway does, and returns the server and its address.
func startServer(t *testing.T, g *Gateway, routes []route.Route, eps []store.Endpoint) (*Server, string) {
	t.Helper()
	return startServerWith(t, g, routes, eps, ServerOptions{})
}

// startServerWith is startServer with options.
func startServerWith(t *testing.T, g *Gateway, routes []route.Route, eps []store.Endpoint, o ServerOptions) (*Server, string) {
	t.Helper()
	srv := NewServer(g, o)
	return srv, serveOn(t, g, routes, eps, srv.Serve, srv.Close)
}

func TestLoopKeepsAliveAndClosesOnConnectionClose(t *testing.T) {
	b := startBackend(t, "b", nil)
	srv, addr := startServer(t, New(Options{}), appRoutes, []store.Endpoint{b.endpoint("app", 1)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: app.test\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on the kept connection: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "b" || resp.Close {
			t.Fatalf("request %d: %d %q close=%v, want 200 \"b\" on a kept connection", i, resp.StatusCode, body, resp.Close)
		}
	}
	if n := b.hits.Load(); n != 100 {
		t.Errorf("the backend got %d requests, want 100", n)
	}
	if n := srv.handedOver.Load(); n != 0 {
		t.Errorf("%d connections went to net/http's server: the loop must answer plain GETs itself", n)
	}

	fmt.Fprint(c, "GET /last HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	// ReadResponse takes Connection: close out of the header into resp.Close
	if resp.StatusCode != 200 || string(body) != "b" || !resp.Close {
		t.Fatalf("Connection: close request: %d %q close=%v, want 200 \"b\" with Connection: close", resp.StatusCode, body, resp.Close)
	}
	if n, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after answering Connection: close the server sent %q (%v), want it to close the connection", n, err)
	}
	for deadline := time.Now().Add(2 * time.Second); srv.Open() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server counts %d open connections after closing the only one", srv.Open())
		}
	}
}

func TestLoopStreamsAChunkedBackendResponse(t *testing.T) {
	secondSent := make(chan struct{})
	b := startBackend(t, "stream", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			fmt.Fprint(w, "plain")
			return
		}
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		close(secondSent)
		fmt.Fprint(w, "second\n")
	})
	url := serve(t, New(Options{}), appRoutes, []store.Endpoint{b.endpoint("app", 1)})
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprint(c, "GET /stream HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Fatalf("%d, transfer encoding %v: want 200 chunked", resp.StatusCode, resp.TransferEncoding)
	}
	body := bufio.NewReader(resp.Body)
	first, err := body.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first chunk %q %v", first, err)
	}
	select {
	case <-secondSent:
		t.Fatal("the first chunk arrived only after the backend sent the second: the loop buffered the stream")
	default:
	}
	rest, err := io.ReadAll(body)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest of the stream %q %v", rest, err)
	}
	// the connection is still good for the next request
	fmt.Fprint(c, "GET /next HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("request after the stream: %v", err)
	}
	next, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(next) != "plain" {
		t.Fatalf("request after the stream: %d %q", resp.StatusCode, next)
	}
}

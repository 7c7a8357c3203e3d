package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The fast path: a request without a body, over HTTP/1.x or HTTP/2 and not an upgrade, is written
// by the handler's goroutine straight onto a kept backend connection and its response
// read back on the same goroutine. net/http's Transport hands each request to a writer
// goroutine and each response over from a reader goroutine; on a proxy that does little
// else, those hand-offs cost more than the proxying. Everything else goes through
// httputil.ReverseProxy.

// fastPath reports whether r can take the fast path.
func fastPath(r *http.Request) bool {
	if r.ProtoMajor == 2 {
		// net/http's HTTP/2 server gives every request a body; one whose HEADERS frame
		// ended the stream has a ContentLength of 0 (-1 when it is open)
		return r.ContentLength == 0 && r.Method != http.MethodConnect
	}
	return r.ProtoMajor == 1 && (r.Body == nil || r.Body == http.NoBody) && r.ContentLength == 0 &&
		r.Method != http.MethodConnect && len(r.Header["Upgrade"]) == 0 && len(r.TransferEncoding) == 0
}

const (
	maxIdlePerBackend = 256
	idleFor           = 30 * time.Second // shorter than any sane server idle timeout
)

// bconn is a kept connection to a backend.
type bconn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	resp     respHead // the connection loop's last response head
}

// conns keeps a backend's idle connections, most recently used last.
type conns struct {
	mu     sync.Mutex
	idle   []*bconn
	closed bool
}

// get returns an idle connection that was used recently enough, or nil.
func (c *conns) get() *bconn {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.idle) > 0 {
		bc := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(bc.lastUsed) < idleFor {
			return bc
		}
		bc.Close()
	}
	return nil
}

// put keeps bc for the next request, or closes it when the pool is full or closed.
func (c *conns) put(bc *bconn) {
	bc.lastUsed = time.Now()
	c.mu.Lock()
	if c.closed || len(c.idle) >= maxIdlePerBackend {
		c.mu.Unlock()
		bc.Close()
		return
	}
	c.idle = append(c.idle, bc)
	c.mu.Unlock()
}

// close closes the idle connections and every connection put back later.
func (c *conns) close() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, bc := range idle {
		bc.Close()
	}
}

// reopen keeps connections again after close (the backend came back).
func (c *conns) reopen() {
	c.mu.Lock()
	c.closed = false
	c.mu.Unlock()
}

func dial(ctx context.Context, hostport string, timeout time.Duration) (*bconn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, err
	}
	return &bconn{Conn: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// hopHeaders are meaningful only for one connection and never forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// hops lists the headers of h that must not be forwarded: the standard hop-by-hop
// headers and those its Connection header names (parsed once per message).
type hops []string

func hopsOf(h http.Header) hops {
	var named hops
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				named = append(named, http.CanonicalHeaderKey(f))
			}
		}
	}
	return named
}

func (named hops) has(key string) bool {
	for _, k := range hopHeaders {
		if k == key {
			return true
		}
	}
	for _, k := range named {
		if k == key {
			return true
		}
	}
	return false
}

// writeRequest writes r's request line and headers for the backend, with the
// X-Forwarded-* headers that ReverseProxy's SetXForwarded would set.
func writeRequest(bw *bufio.Writer, r *http.Request) error {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	skip := hopsOf(r.Header)
	for k, vv := range r.Header {
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Expect":
			continue
		}
		if !skip.has(k) {
			writeField(bw, k, vv)
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
			bw.WriteString(headerValue(strings.Join(prior, ", ")))
			bw.WriteString(", ")
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(headerValue(r.Host))
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n\r\n")
	}
	return bw.Flush()
}

// writeField writes a header field's lines.
func writeField(bw *bufio.Writer, k string, vv []string) {
	for _, v := range vv {
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(headerValue(v))
		bw.WriteString("\r\n")
	}
}

// headerValue drops what would end a header line early; net/http's server has already
// refused such values, this keeps the forwarder safe on its own.
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// roundTrip sends r to b over a kept connection, or a new one, and returns the response
// head and the connection its body is to be read from. A kept connection that the
// backend closed meanwhile is replaced by a new one, once: the request has no body, so
// it may be sent again. The connection in use is kept in cur, for the request's
// cancellation to interrupt.
func roundTrip(b *backend, r *http.Request, cur *atomic.Pointer[bconn], timeout, connect time.Duration) (*http.Response, *bconn, error) {
	try := func(bc *bconn) (*http.Response, error) {
		cur.Store(bc)
		if r.Context().Err() != nil {
			interrupt(bc)
		}
		resp, err := exchange(bc, r, timeout)
		if err != nil {
			bc.Close()
		}
		return resp, err
	}
	// a request that must not be sent twice takes a new connection (as the loop's roundTrip)
	if retryable(r) {
		if bc := b.conns.get(); bc != nil {
			resp, err := try(bc)
			if err == nil || r.Context().Err() != nil || timedOut(err) {
				return resp, bc, err
			}
		}
	}
	bc, err := dial(r.Context(), b.hostport, connect)
	if err != nil {
		return nil, nil, err
	}
	resp, err := try(bc)
	return resp, bc, err
}

// interrupt makes the connection's pending and future reads and writes fail at once.
func interrupt(bc *bconn) { _ = bc.SetDeadline(time.Unix(1, 0)) }

// exchange writes r on bc and reads the response head, for at most timeout.
func exchange(bc *bconn, r *http.Request, timeout time.Duration) (*http.Response, error) {
	if err := writeRequest(bc.bw, r); err != nil {
		return nil, err
	}
	_ = bc.SetReadDeadline(time.Now().Add(timeout))
	for {
		resp, err := http.ReadResponse(bc.br, r)
		if err != nil {
			return nil, err
		}
		// an informational answer (103 Early Hints) precedes the real one
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			if r.Context().Err() == nil { // else the client's leaving set the deadline
				_ = bc.SetReadDeadline(time.Time{})
			}
			return resp, nil
		}
	}
}

// forward proxies r to st.backend on the fast path, with the same outcomes as the
// ReverseProxy path: st.code, st.failed for attempt's retry, and outlier results.
func (g *Gateway) forward(w http.ResponseWriter, st *reqState) {
	r, b := st.in, st.backend
	// the client leaving interrupts whatever the backend connection is doing
	var cur atomic.Pointer[bconn]
	stop := context.AfterFunc(r.Context(), func() {
		if bc := cur.Load(); bc != nil {
			interrupt(bc)
		}
	})
	defer stop()
	resp, bc, err := roundTrip(b, r, &cur, st.route.responseTimeout, st.route.connectTimeout)
	if err != nil {
		g.roundTripFailed(w, st, err)
		return
	}
	st.headAt = time.Now()
	st.code = resp.StatusCode
	if st.route.result(b, resp.StatusCode >= 500) {
		g.ejected(st.route, b)
	}
	h := w.Header()
	skip := hopsOf(resp.Header)
	for k, vv := range resp.Header {
		if !skip.has(k) {
			h[k] = vv
		}
	}
	addHSTS(h, st.hsts)
	addTraceparent(h, st.span.header)
	w.WriteHeader(resp.StatusCode)
	buf := buffers.Get().(*[]byte)
	// a body of unknown length may be a stream: pass each piece on at once
	copyErr := copyBody(w, resp.Body, *buf, resp.ContentLength < 0)
	buffers.Put(buf)
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	if !stop() || copyErr != nil || resp.Close || bc.br.Buffered() > 0 {
		// the client left, the body was cut short, or the backend sent more than its
		// answer: that connection is not used again
		bc.Close()
		resp.Body.Close()
		if copyErr != nil && !errors.Is(copyErr, context.Canceled) {
			g.log.Debug("copy response", "app", st.route.app, "instance", b.instance, "err", copyErr)
			// the client must see a broken answer as broken, not as a complete one
			panic(http.ErrAbortHandler)
		}
		return
	}
	resp.Body.Close()
	b.conns.put(bc)
}

// copyBody copies with buf, never through the ResponseWriter's ReadFrom: that one sends
// the response head and the body in separate writes and allocates a buffer each time.
func copyBody(w http.ResponseWriter, body io.Reader, buf []byte, flush bool) error {
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
	}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

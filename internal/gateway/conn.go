package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one client connection on the gateway's own loop. The loop reads a request
// head (head.go), sends it to a backend over a kept connection, relays the answer
// (response.go) and reads the next head, all on the connection's goroutine: no
// goroutine hand-off, no per-request allocation on the common path, one read and one
// write each way.
type conn struct {
	s      *Server
	g      *Gateway
	nc     net.Conn
	br     *bufio.Reader
	remote string // the client's address, as net/http's RemoteAddr
	ip     string // its host, for X-Forwarded-For
	h      reqHead
	// afterPost: as net/http's server, up to 4 CR or LF bytes after a POST are skipped
	// (RFC 9112 2.2's tolerance of old clients that end a body with a stray CRLF)
	afterPost bool
	served    int // requests answered on this connection
	// toHTTP: the route wants what the loop does not do (HTTP/2 to its instances): the
	// request goes to net/http's server with its connection
	toHTTP bool
	tls    bool        // nc is a *tls.Conn (the HTTPS listener)
	idle   atomic.Bool // waiting for a request: Shutdown may close it
	span   reqSpan     // the request's trace context, when the gateway traces
}

// clientReaderSize is the read buffer of a client connection: a request head larger than
// this goes to net/http's server (which takes up to 1 MiB).
const clientReaderSize = 4 << 10

var clientReaders sync.Pool

func (c *conn) serve() {
	handed := false
	defer func() {
		if !handed {
			c.nc.Close()
			c.s.forget(c, true)
		}
		if c.br != nil && !handed {
			c.br.Reset(nil)
			clientReaders.Put(c.br)
		}
	}()
	if c.tls {
		switch proto, ok := c.handshake(); {
		case !ok:
			return
		case proto == "h2":
			handed = true
			c.s.handOverH2(c, c.nc.(*tls.Conn))
			return
		case proto == acmeTLS1:
			return // a tls-alpn-01 validation ends with the handshake
		}
	}
	if v := clientReaders.Get(); v != nil {
		c.br = v.(*bufio.Reader)
		c.br.Reset(c.nc)
	} else {
		c.br = bufio.NewReaderSize(c.nc, clientReaderSize)
	}
	for {
		res, err := c.readHead()
		if err != nil {
			return
		}
		if res == headOther {
			if c.served > 0 && bytes.HasPrefix(c.headBytesBuffered(), []byte("PRI * HTTP/2.0")) {
				// the HTTP/2 preface is a connection's first bytes or nothing: handed over,
				// net/http's server would take it for a new connection's
				c.writeError(time.Now(), http.StatusBadRequest, "tend: the HTTP/2 preface after an HTTP/1.1 request")
				return
			}
			handed = true
			c.s.handOver(c)
			return
		}
		c.idle.Store(false)
		c.afterPost = c.h.method == "POST"
		keep := c.answer()
		c.served++
		if c.toHTTP {
			handed = true
			c.s.handOver(c)
			return
		}
		if _, err := c.br.Discard(c.h.size); err != nil || !keep {
			return
		}
		c.idle.Store(true)
		if c.s.shutdown.Load() && c.br.Buffered() == 0 {
			return
		}
	}
}

// handshake runs an HTTPS connection's TLS handshake within the read-header timeout and
// returns the protocol chosen by ALPN.
func (c *conn) handshake() (string, bool) {
	tc := c.nc.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(c.s.o.ReadHeaderTimeout))
	if err := tc.Handshake(); err != nil {
		if !errors.Is(err, errNoCert) && !errors.Is(err, errNoSNI) { // those are counted by reason
			c.g.metrics.handshakes.WithLabelValues("other").Inc()
		}
		return "", false
	}
	_ = tc.SetDeadline(time.Time{})
	return tc.ConnectionState().NegotiatedProtocol, true
}

// readHead waits for a complete request head, or for bytes that are not for the loop.
func (c *conn) readHead() (headResult, error) {
	timeout := c.s.o.IdleTimeout
	if c.br.Buffered() > 0 || c.served == 0 {
		// a new connection has the header timeout for its first request, as on net/http
		timeout = c.s.o.ReadHeaderTimeout
	}
	if err := c.nc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	started := c.br.Buffered() > 0
	skipped := 0
	for {
		n := c.br.Buffered()
		if n > 0 && c.afterPost && skipped < 4 {
			if b, _ := c.br.Peek(1); b[0] == '\r' || b[0] == '\n' {
				_, _ = c.br.Discard(1)
				skipped++
				continue
			}
		}
		if n > 0 {
			buf, _ := c.br.Peek(n)
			if res := parseHead(buf, &c.h); res != headIncomplete {
				return res, nil
			}
			if n == c.br.Size() {
				return headOther, nil // a head larger than the buffer
			}
			if !started {
				started = true
				if err := c.nc.SetReadDeadline(time.Now().Add(c.s.o.ReadHeaderTimeout)); err != nil {
					return 0, err
				}
			}
		}
		if _, err := c.br.Peek(n + 1); err != nil {
			return 0, err
		}
	}
}

// answer serves the request in c.h and reports whether the connection may be kept.
func (c *conn) answer() bool {
	g, h := c.g, &c.h
	start := time.Now()
	if bytes.HasPrefix(h.path, []byte(acmeChallengePath)) {
		c.toHTTP = true // net/http's path answers the ACME challenges it holds
		return false
	}
	rt := g.table.Load().lookup(normalHost(str(h.host)), str(h.path))
	if rt == nil {
		return c.writeError(start, http.StatusNotFound, "tend: no app is routed for host "+string(h.host))
	}
	if rt.h2 || rt.maintenance != nil || c.toHTTPS(rt) {
		// net/http's path answers maintenance, redirects and HSTS: they are rare or opt-in
		// and need no speed
		c.toHTTP = true
		return false
	}
	p := rt.choose(h, c.ip)
	mirrorable := h.method == http.MethodGet || h.method == http.MethodHead // as mirror takes
	if rt.mirror != nil && p != rt.mirror && mirrorable && rand.IntN(100) < rt.mirrorPercent {
		if r := c.request(); r != nil {
			g.mirror(rt, r)
		}
	}
	b := p.pick(nil)
	if b == nil {
		return c.writeError(start, http.StatusServiceUnavailable, "tend: "+rt.app+" has no ready instance")
	}
	var seq uint64
	if !h.hasID {
		seq = g.reqSeq.Add(1)
	}
	if g.tracer != nil {
		g.tracer.begin(&c.span, str(h.fieldValue("Traceparent")))
	}
	rt.metrics.inflight.Inc()
	x := trip{c: c, rt: rt, pool: p, seq: seq, start: start}
	keep := x.attempt(b)
	rt.metrics.inflight.Dec()
	b = x.backend
	end := time.Now()
	upstream := upstreamTime(start, time.Time{}, x.headAt, end)
	kept := g.tracer != nil && g.tracer.end(&c.span, finished{route: rt, backend: b, code: x.code, retried: x.retried, answered: !x.headAt.IsZero(), upstream: upstream},
		h.method, str(h.path), str(h.host), start, end)
	observeLatency(b.duration, upstream, kept, &c.span)
	b.exchange.Observe(end.Sub(start).Seconds())
	b.counters.inc(h.method, x.code)
	if g.o.AccessLog {
		id := string(h.fieldValue("X-Request-Id"))
		if seq != 0 {
			id = g.reqBase + strconv.FormatUint(seq, 36)
		}
		attrs := []slog.Attr{slog.String("app", rt.app), slog.Int("revision", b.revision),
			slog.String("instance", b.instance), slog.String("method", h.method), slog.String("path", string(h.path)),
			slog.Int("status", x.code), slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.remote), slog.String("request_id", id), slog.Bool("retried", x.retried)}
		if g.tracer != nil {
			attrs = append(attrs, slog.String("trace_id", c.span.trace.String()), slog.String("span_id", c.span.id.String()))
		}
		g.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
	}
	c.span = reqSpan{}
	return keep
}

// trip is one request's way through the backends.
type trip struct {
	c       *conn
	rt      *appRoute
	pool    *pool
	backend *backend
	seq     uint64 // the gateway's number for the X-Request-Id it adds; 0 when the client sent one
	start   time.Time
	code    int
	retried bool
	headAt  time.Time // when the answering instance's response head came (zero: none came)
}

// errClientGone is a round trip given up because the client closed its connection.
var errClientGone = errors.New("the client closed its connection")

// attempt proxies the request to b, and once to another backend when the connection
// failed before any response and the request may be repeated; it reports whether the
// client connection may be kept.
func (x *trip) attempt(b *backend) bool {
	c := x.c
	x.backend = b
	b.inflight.Add(1)
	bc, err := x.roundTrip(b)
	if err == nil {
		keep := x.relay(bc)
		b.inflight.Add(-1)
		return keep
	}
	b.inflight.Add(-1)
	if errors.Is(err, errClientGone) {
		x.code = statusClientGone
		return false
	}
	x.c.g.backendFailed(x.rt, b, err)
	if errors.Is(err, errResponseTimeout) {
		x.code = http.StatusGatewayTimeout
		return c.writeError(x.start, http.StatusGatewayTimeout, "tend: "+x.rt.app+" instance "+b.instance+" did not answer in time")
	}
	x.code = http.StatusBadGateway
	if !x.retried && idempotent(c.h.method) {
		next := x.pool.pick(b)
		if next == nil && x.pool != x.rt.all {
			next = x.rt.all.pick(b)
		}
		if next != nil {
			x.retried = true
			x.rt.metrics.retries.Inc()
			return x.attempt(next)
		}
	}
	return c.writeError(x.start, http.StatusBadGateway, "tend: "+x.rt.app+" instance "+b.instance+" unreachable")
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// roundTrip sends the request to b over a kept connection, or a new one, and waits for
// the response head. A kept connection that the backend closed meanwhile is replaced
// by a new one, once: the request has no body, so it may be sent again.
func (x *trip) roundTrip(b *backend) (*bconn, error) {
	// a request that must not be sent twice (a POST) takes a new connection: a kept one
	// may have been closed by the backend, and whether it got the request before cannot
	// be known
	if !idempotent(x.c.h.method) {
		return x.fresh(b)
	}
	if bc := b.conns.get(); bc != nil {
		err := x.send(bc)
		if err == nil {
			return bc, nil
		}
		bc.Close()
		if errors.Is(err, errClientGone) || errors.Is(err, errResponseTimeout) || bc.br.Buffered() > 0 {
			return nil, err
		}
	}
	return x.fresh(b)
}

// fresh sends the request on a new connection to b.
func (x *trip) fresh(b *backend) (*bconn, error) {
	bc, err := dial(context.Background(), b.hostport, x.rt.connectTimeout)
	if err != nil {
		return nil, err
	}
	if err := x.send(bc); err != nil {
		bc.Close()
		return nil, err
	}
	return bc, nil
}

// watchAfter is how long the loop waits for a backend's answer before it also watches
// the client connection, to give the request up when the client leaves.
const watchAfter = 100 * time.Millisecond

// send writes the request head on bc and waits until the response head is buffered.
func (x *trip) send(bc *bconn) error {
	x.c.writeRequest(bc.bw, x.seq)
	if err := bc.bw.Flush(); err != nil {
		return err
	}
	timeout := x.rt.responseTimeout
	if err := bc.SetReadDeadline(time.Now().Add(min(watchAfter, timeout))); err != nil {
		return err
	}
	var w *watch
	err := waitResponseHead(bc)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && timeout > watchAfter {
		// the deadline before the watch: a watch that finds the client gone at once
		// interrupts with a deadline of its own, which must not be overwritten
		if err = bc.SetReadDeadline(x.start.Add(timeout)); err == nil {
			w = x.c.watch(bc)
			err = waitResponseHead(bc)
		}
	}
	if w != nil && w.stop(x.c) {
		return errClientGone
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errResponseTimeout
		}
		return err
	}
	x.headAt = time.Now()
	if bc.resp.result != headFast {
		// net/http's reader reads the rest of this head (after a 1xx, say): still within
		// the response timeout; relayOther clears the deadline once the head is read
		return bc.SetReadDeadline(x.start.Add(timeout))
	}
	return bc.SetReadDeadline(time.Time{})
}

// watch reads the client connection in the background while a slow backend answers:
// an error there (the client closed) interrupts the backend connection. Bytes there
// (a pipelined request) end the watch; they stay in the buffer for the loop.
type watch struct {
	done     chan struct{}
	stopping atomic.Bool
	gone     atomic.Bool
}

func (c *conn) watch(bc *bconn) *watch {
	w := &watch{done: make(chan struct{})}
	// the head's bytes leave the buffer the watch may refill
	c.h.own()
	_ = c.nc.SetReadDeadline(time.Time{})
	go func() {
		defer close(w.done)
		// past the current head, which stays in the buffer until it is answered
		if _, err := c.br.Peek(c.h.size + 1); err != nil && err != bufio.ErrBufferFull && !w.stopping.Load() {
			w.gone.Store(true)
			interrupt(bc)
		}
	}()
	return w
}

// stop ends the watch and reports whether the client had left.
func (w *watch) stop(c *conn) bool {
	w.stopping.Store(true)
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	return w.gone.Load()
}

// writeRequest writes the request head for the backend: the client's fields without the
// hop-by-hop ones, and the gateway's X-Forwarded-* (as ReverseProxy's SetXForwarded).
func (c *conn) writeRequest(bw *bufio.Writer, seq uint64) {
	h := &c.h
	bw.WriteString(h.method)
	bw.WriteByte(' ')
	bw.Write(h.uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.Write(h.host)
	bw.WriteString("\r\n")
	var xff []byte
	for i := range h.fields {
		f := &h.fields[i]
		switch f.kind {
		case fieldHop, fieldForwarded, fieldPreview:
			continue
		case fieldTraceparent:
			if c.span.header != "" {
				continue // the gateway's span's, below
			}
		case fieldXFF:
			if len(xff) > 0 {
				xff = append(xff, ", "...)
			}
			xff = append(xff, f.value...)
			continue
		}
		bw.Write(f.name)
		bw.WriteString(": ")
		bw.Write(f.value)
		bw.WriteString("\r\n")
	}
	if c.span.header != "" {
		bw.WriteString("Traceparent: ")
		bw.WriteString(c.span.header)
		bw.WriteString("\r\n")
	}
	if seq != 0 {
		bw.WriteString("X-Request-Id: ")
		bw.WriteString(c.g.reqBase)
		bw.Write(strconv.AppendUint(bw.AvailableBuffer(), seq, 36))
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-For: ")
	if len(xff) > 0 {
		bw.Write(xff)
		bw.WriteString(", ")
	}
	bw.WriteString(c.ip)
	bw.WriteString("\r\nX-Forwarded-Host: ")
	bw.Write(h.host)
	if c.tls {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n\r\n")
	}
}

// toHTTPS reports whether a request for rt on this connection is redirected to HTTPS
// or gets an HSTS header, which net/http's path adds.
func (c *conn) toHTTPS(rt *appRoute) bool {
	if c.tls {
		return rt.hsts != ""
	}
	return rt.redirect
}

// request builds a net/http request of the head, for the rare paths that take one (mirroring).
func (c *conn) request() *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.headBytes())))
	if err != nil {
		return nil
	}
	r.RemoteAddr = c.remote
	return r
}

// headBytesBuffered is what the read buffer holds.
func (c *conn) headBytesBuffered() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return b
}

// headBytes is the raw head of the current request.
func (c *conn) headBytes() []byte {
	b, _ := c.br.Peek(c.h.size)
	return b
}

// writeError answers with a plain-text error, as http.Error does.
func (c *conn) writeError(start time.Time, code int, msg string) bool {
	bw := responseWriter(c.nc)
	defer putResponseWriter(bw)
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: ")
	bw.Write(httpDate(start))
	bw.WriteString("\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(msg) + 1))
	keep := c.keep()
	if !keep {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	if c.h.method != http.MethodHead {
		bw.WriteString(msg)
		bw.WriteByte('\n')
	}
	return bw.Flush() == nil && keep
}

// keep reports whether the connection stays open after this answer.
func (c *conn) keep() bool { return !c.h.close && !c.s.closing.Load() }

// header and cookie let choose read the head (requestHeaders).
func (h *reqHead) header(name string) string { return string(h.fieldValue(name)) }

func (h *reqHead) cookie(name string) (string, bool) {
	r := http.Request{Header: http.Header{}}
	for i := range h.fields {
		if f := &h.fields[i]; strings.EqualFold(str(f.name), "Cookie") {
			r.Header.Add("Cookie", string(f.value))
		}
	}
	ck, err := r.Cookie(name)
	if err != nil {
		return "", false
	}
	return ck.Value, true
}

// fieldValue is the value of the first field called name, as http.Header.Get.
func (h *reqHead) fieldValue(name string) []byte {
	for i := range h.fields {
		if f := &h.fields[i]; strings.EqualFold(str(f.name), name) {
			return f.value
		}
	}
	return nil
}

// httpDate formats t for the Date field; the text changes once a second.
func httpDate(t time.Time) []byte {
	sec := t.Unix()
	if d := date.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &dateText{sec: sec, text: t.UTC().AppendFormat(nil, http.TimeFormat)}
	date.Store(d)
	return d.text
}

type dateText struct {
	sec  int64
	text []byte
}

var date atomic.Pointer[dateText]

// responseWriterSize is the buffer a response is written through: a response up to this
// size leaves in one write.
const responseWriterSize = 64 << 10

var responseWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, responseWriterSize) }}

func responseWriter(w io.Writer) *bufio.Writer {
	bw := responseWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func putResponseWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	responseWriters.Put(bw)
}

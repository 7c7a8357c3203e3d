package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// ReadHeaderTimeout bounds the time from a request's first byte to the end of its head.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept connection.
	IdleTimeout time.Duration
	// ErrorLog receives net/http's server errors; nil means the standard logger.
	ErrorLog *log.Logger
	// MaxConns caps the client connections open at once (default DefaultMaxConns) and
	// MaxConnsPerClient those from one client address (default DefaultMaxConnsPerClient);
	// a connection over a cap is closed at once and counted. Negative: no cap.
	MaxConns, MaxConnsPerClient int
}

// Flags are the `tend gateway` flags that give a gateway process o's limits (those that
// differ from the defaults).
func (o ServerOptions) Flags() []string {
	var args []string
	if o.ReadHeaderTimeout > 0 && o.ReadHeaderTimeout != DefaultReadHeaderTimeout {
		args = append(args, "--read-header-timeout", o.ReadHeaderTimeout.String())
	}
	if o.IdleTimeout > 0 && o.IdleTimeout != DefaultIdleTimeout {
		args = append(args, "--idle-timeout", o.IdleTimeout.String())
	}
	if o.MaxConns != 0 && o.MaxConns != DefaultMaxConns {
		args = append(args, "--max-conns", strconv.Itoa(o.MaxConns))
	}
	if o.MaxConnsPerClient != 0 && o.MaxConnsPerClient != DefaultMaxConnsPerClient {
		args = append(args, "--max-conns-per-client", strconv.Itoa(o.MaxConnsPerClient))
	}
	return args
}

// Default client timeouts: a request head has 30s to arrive; a kept connection is
// closed after 2 minutes without a request.
const (
	DefaultReadHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// Default connection caps: far above what a browser or a load balancer opens, low enough
// that one client cannot take the gateway's descriptors (an idle connection costs the
// gateway a goroutine and a 4 KiB read buffer).
const (
	DefaultMaxConns          = 32768
	DefaultMaxConnsPerClient = 1024
)

// Server serves a Gateway on listeners. HTTP/1.1 requests without a body are answered
// by the gateway's own connection loop (conn.go); a connection whose request is anything
// else is handed, with the bytes already read, to net/http's server for the rest of its
// life. The loop exists for speed: net/http's server costs a proxy about a third of its
// throughput in per-request allocation, a context and a background read (bench/NOTES.md).
type Server struct {
	g    *Gateway
	o    ServerOptions
	http *http.Server
	hand *handoff

	closing    atomic.Bool // answer every request with Connection: close
	shutdown   atomic.Bool
	handedOver atomic.Int64 // connections handed to net/http's server

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	handed    map[*bufferedConn]struct{} // given to net/http's server, hijacked ones (WebSockets) too
	handedH2  map[*tls.Conn]string       // HTTPS connections speaking HTTP/2, given to net/http's server, by client address
	open      int                        // client connections, on the loop or handed to net/http
	byClient  map[string]int             // open connections by client address
	startHTTP sync.Once
}

// NewServer returns a server for g.
func NewServer(g *Gateway, o ServerOptions) *Server {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnsPerClient == 0 {
		o.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	s := &Server{g: g, o: o, hand: newHandoff(), listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{},
		handed: map[*bufferedConn]struct{}{}, handedH2: map[*tls.Conn]string{}, byClient: map[string]int{}}
	s.http = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout: o.IdleTimeout, MaxHeaderBytes: MaxHeaderBytes, ErrorLog: o.ErrorLog, ConnState: s.trackHTTP,
		Protocols: new(http.Protocols), ConnContext: connContext}
	// HTTP/2 without TLS by prior knowledge (gRPC clients, curl --http2-prior-knowledge):
	// its preface is not for the loop, which hands such a connection over; HTTPS
	// connections that chose h2 by ALPN are handed over after their handshake
	s.http.Protocols.SetHTTP1(true)
	s.http.Protocols.SetHTTP2(true)
	s.http.Protocols.SetUnencryptedHTTP2(true)
	return s
}

// Serve accepts connections on ln until Shutdown or Close; it then returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS is Serve for HTTPS: each connection's handshake uses cfg, on the connection's
// own goroutine and within the read-header timeout.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error { return s.serve(ln, cfg) }

func (s *Server) serve(ln net.Listener, cfg *tls.Config) error {
	s.startHTTP.Do(func() { go func() { _ = s.http.Serve(s.hand) }() })
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// out of descriptors, say: wait rather than spin, as net/http does
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc, cfg)
		if c == nil {
			nc.Close()
			continue
		}
		go c.serve()
	}
}

// SetClosing makes the server answer every further request with Connection: close, so
// that clients open their next connection elsewhere (to a successor on the same socket).
func (s *Server) SetClosing() { s.closing.Store(true) }

// Open is the number of client connections open.
func (s *Server) Open() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.open)
}

// Shutdown stops accepting, closes idle connections, waits for requests in flight to be
// answered (or ctx to end) and then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var err error
wait:
	for s.closeIdle() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			s.closeAll()
			break wait
		case <-t.C:
		}
	}
	if herr := s.http.Shutdown(ctx); err == nil {
		err = herr
	}
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeAll()
	return s.http.Close()
}

func (s *Server) stopAccepting() {
	s.closing.Store(true)
	s.mu.Lock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.hand.Close()
}

// closeIdle closes the loop's idle connections and returns how many remain open.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.Close()
		}
	}
	return len(s.conns)
}

func (s *Server) closeAll() {
	s.mu.Lock()
	var handed []*bufferedConn
	for c := range s.conns {
		c.nc.Close()
	}
	for bc := range s.handed {
		handed = append(handed, bc)
	}
	for tc := range s.handedH2 {
		tc.Close()
	}
	s.mu.Unlock()
	for _, bc := range handed {
		bc.Close()
	}
}

// newConn admits a connection, or returns nil when the server is stopping or a cap is reached.
func (s *Server) newConn(nc net.Conn, cfg *tls.Config) *conn {
	c := &conn{s: s, g: s.g, nc: nc, remote: nc.RemoteAddr().String()}
	if cfg != nil {
		c.nc, c.tls = tls.Server(nc, cfg), true // the handshake happens on the connection's goroutine
	}
	c.ip, _, _ = net.SplitHostPort(c.remote)
	c.idle.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return nil
	}
	switch {
	case s.o.MaxConns > 0 && s.open >= s.o.MaxConns:
		s.g.metrics.refused.WithLabelValues("total").Inc()
		return nil
	case s.o.MaxConnsPerClient > 0 && s.byClient[c.ip] >= s.o.MaxConnsPerClient:
		s.g.metrics.refused.WithLabelValues("client").Inc()
		return nil
	}
	s.open++
	s.byClient[c.ip]++
	s.g.metrics.connections.Set(float64(s.open))
	s.conns[c] = struct{}{}
	return c
}

// forget takes c off the loop; with closed, its connection is closed too (not handed over).
func (s *Server) forget(c *conn, closed bool) {
	s.mu.Lock()
	delete(s.conns, c)
	if closed {
		s.closedLocked(c.ip)
	}
	s.mu.Unlock()
}

// closedLocked counts a client connection of ip closed.
func (s *Server) closedLocked(ip string) {
	s.open--
	if s.byClient[ip]--; s.byClient[ip] <= 0 {
		delete(s.byClient, ip)
	}
	s.g.metrics.connections.Set(float64(s.open))
}

// handOver gives a connection and the bytes read from it to net/http's server.
func (s *Server) handOver(c *conn) {
	s.handedOver.Add(1)
	s.forget(c, false)
	_ = c.nc.SetReadDeadline(time.Time{})
	bc := &bufferedConn{Conn: c.nc, r: c.br, ip: c.ip, s: s}
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		bc.tls = &st
	}
	s.mu.Lock()
	s.handed[bc] = struct{}{}
	s.mu.Unlock()
	if !s.hand.give(bc) {
		bc.Close()
	}
}

// handOverH2 gives an HTTPS connection that chose HTTP/2 to net/http's server, which
// takes it as its own TLS connection.
func (s *Server) handOverH2(c *conn, tc *tls.Conn) {
	s.handedOver.Add(1)
	s.forget(c, false)
	_ = tc.SetDeadline(time.Time{})
	s.mu.Lock()
	s.handedH2[tc] = c.ip
	s.mu.Unlock()
	if !s.hand.give(tc) {
		tc.Close()
		s.releaseH2(tc)
	}
}

func (s *Server) releaseH2(tc *tls.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ip, ok := s.handedH2[tc]; ok {
		delete(s.handedH2, tc)
		s.closedLocked(ip)
	}
}

// trackHTTP counts the end of a connection handed to net/http's server. A hijacked one
// (a WebSocket) counts until whoever hijacked it closes it.
func (s *Server) trackHTTP(nc net.Conn, st http.ConnState) {
	if st != http.StateClosed {
		return
	}
	switch c := nc.(type) {
	case *bufferedConn:
		c.release()
	case *tls.Conn:
		s.releaseH2(c)
	}
}

// tlsStateKey carries, in a request's context, the TLS state of an HTTPS connection the
// loop handed to net/http's server (which sees it as a plain one).
type tlsStateKey struct{}

func connContext(ctx context.Context, nc net.Conn) context.Context {
	if bc, ok := nc.(*bufferedConn); ok && bc.tls != nil {
		return context.WithValue(ctx, tlsStateKey{}, bc.tls)
	}
	return ctx
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		w.Header().Set("Connection", "close") // the next request opens a connection to the successor
	}
	s.g.ServeHTTP(w, r)
}

// bufferedConn is a connection whose first bytes were read into r.
type bufferedConn struct {
	net.Conn
	r    *bufio.Reader
	ip   string               // the client's address, for the connection caps
	tls  *tls.ConnectionState // an HTTPS connection's, after its handshake
	s    *Server
	once sync.Once
}

// Close closes the connection and counts it closed, once.
func (c *bufferedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func (c *bufferedConn) release() {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.handed, c)
		c.s.closedLocked(c.ip)
		c.s.mu.Unlock()
	})
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite lets net/http's server half-close after an error answer, as it does on a
// TCP connection of its own.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handoff is the listener net/http's server accepts handed-over connections from.
type handoff struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoff() *handoff { return &handoff{ch: make(chan net.Conn), done: make(chan struct{})} }

func (h *handoff) give(c net.Conn) bool {
	select {
	case h.ch <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }

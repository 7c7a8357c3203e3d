package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The gateway's protective limits. A client on the internet is hostile: what it does
// wrong (a malformed body, a body sent a byte a minute, headers of a megabyte, leaving
// early) is answered with a 4xx by the gateway itself, or counted as 499, and never
// counted against the instance: no 5xx in its metrics, no ejection, no failed canary.
// An instance's own faults (refused connections, 5xx, no answer within the response
// timeout) are what ejection and analysis count.
const (
	// DefaultResponseTimeout bounds the wait for an instance's response head; then the
	// client gets 504 (nginx's proxy_read_timeout is 60s too).
	DefaultResponseTimeout = 60 * time.Second
	// DefaultBodyTimeout bounds the wait between two reads of a request body; then the
	// client gets 408 (nginx's client_body_timeout). Past the same time from the body's
	// start, a body arriving slower than MinBodyRate gets 408 too: a byte a second never
	// trips a timeout between reads, but it would hold a connection for ever.
	DefaultBodyTimeout = 60 * time.Second
	// MinBodyRate is the slowest a request body may arrive, on average, once the body
	// timeout has passed since its start (Kestrel's default is 240 bytes/s).
	MinBodyRate = 256
	// MaxHeaderBytes bounds a request head; over it the client gets 431 (nginx takes up
	// to four 8 KiB buffers).
	MaxHeaderBytes = 32 << 10
	// DefaultConnectTimeout bounds a new connection to an instance; then the request is
	// retried on another instance when it may be, or gets 502. An instance on loopback or
	// a LAN accepts in microseconds: two seconds is a dead or overloaded one.
	DefaultConnectTimeout = 2 * time.Second
)

// connectTimeoutKey carries a request's connect timeout to ReverseProxy's dials (which
// may outlive the request and its pooled state).
type connectTimeoutKey struct{}

// dialRoute dials an instance for ReverseProxy's transports, within the connect
// timeout of the request's route.
func dialRoute(ctx context.Context, network, addr string) (net.Conn, error) {
	timeout := DefaultConnectTimeout
	if d, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && d > 0 {
		timeout = d
	}
	return (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
}

// errResponseTimeout is an instance that sent no response head within the response timeout.
var errResponseTimeout = errors.New("no response within the response timeout")

// dialFailed reports whether err is a connection to an instance that could not be made
// (refused, or not accepted within the connect timeout): the request was never sent.
func dialFailed(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// timedOut reports whether err is a timeout of a read or a round trip.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, errResponseTimeout) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// clientBody is a request body as the gateway forwards it: each read waits at most the
// body timeout for the client, and a failed read is remembered, so that the round trip
// that failed with it is answered as the client's fault.
type clientBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	start   time.Time
	n       int64
	ended   error        // how the body ended: io.EOF or the error; reads after it return it again
	onEnd   func()       // called once when the body has been read to its end
	endedAt atomic.Int64 // unix nanoseconds of the body's end (0: not read to its end yet)

	mu  sync.Mutex
	err error
}

func newClientBody(w http.ResponseWriter, r *http.Request, limit int64, timeout time.Duration) *clientBody {
	body := r.Body
	if limit > 0 {
		body = http.MaxBytesReader(w, body, limit)
	}
	return &clientBody{ReadCloser: body, rc: http.NewResponseController(w), timeout: timeout, start: time.Now()}
}

// errBodyTooSlow is a body arriving slower than MinBodyRate.
var errBodyTooSlow = fmt.Errorf("request body slower than %d bytes/s: %w", MinBodyRate, os.ErrDeadlineExceeded)

func (b *clientBody) Read(p []byte) (int, error) {
	if b.ended != nil {
		// the Transport reads once more after a body's end: the connection's read deadline
		// must not be set again then, or net/http's background read would end the request
		return 0, b.ended
	}
	if b.timeout > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.ended = err
		b.endedAt.Store(time.Now().UnixNano())
		if b.timeout > 0 {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
		if b.onEnd != nil {
			b.onEnd()
		}
		return n, err
	}
	b.n += int64(n)
	if err == nil && b.timeout > 0 {
		if d := time.Since(b.start); d > b.timeout && float64(b.n) < MinBodyRate*d.Seconds() {
			err = errBodyTooSlow
		}
	}
	if err != nil {
		// the deadline stays: net/http drains what is left of the body before its 408
		b.ended = err
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// fault is the status the client gets when reading its body failed, or 0 when it did not.
func (b *clientBody) fault() (int, string) {
	if b == nil {
		return 0, ""
	}
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "tend: the request body is larger than this route takes"
	case timedOut(err):
		return http.StatusRequestTimeout, "tend: the request body did not arrive in time"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		return statusClientGone, ""
	}
	return http.StatusBadRequest, "tend: the request body is malformed: " + err.Error()
}

// statusClientGone is what metrics and logs record for a request whose client left
// before its answer (nginx's 499); the client gets nothing.
const statusClientGone = 499

// upstreamTime is the instance's share of a request: from the request sent to it (the
// end of the client's body when it had one, else the request's start) to its response
// head (or the end, when no head came). The client's upload and download are left out,
// so that a slow client cannot make a healthy instance look slow to canary analysis.
func upstreamTime(start, bodyEnd, headAt, end time.Time) time.Duration {
	from, to := start, end
	if !headAt.IsZero() {
		to = headAt
	}
	if bodyEnd.After(from) && bodyEnd.Before(to) {
		from = bodyEnd
	}
	return to.Sub(from)
}

// bodyEnd is when the client's body was read to its end (zero: no body, or not read to
// its end).
func (st *reqState) bodyEnd() time.Time {
	if st.body == nil {
		return time.Time{}
	}
	if ns := st.body.endedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

package gateway

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/trace"
)

// TraceOptions make the gateway trace: a server span per request, continuing the
// client's W3C traceparent or starting a trace, and the instance gets the traceparent
// of that span.
type TraceOptions struct {
	// SampleRatio is the share of new traces (requests without a traceparent) the
	// instances are asked to record, 0..1; a traceparent's own decision is followed.
	SampleRatio float64
	// Slow is the time from which a request keeps its span even when not sampled, as a
	// failed one (5xx, or no answer) always does: decided at its end (0: never for time).
	Slow time.Duration
}

// The defaults of TraceOptions a gateway process runs with: 10% of new traces sampled,
// every request of 1s or more kept.
const (
	DefaultTraceSample = 0.1
	DefaultTraceSlow   = time.Second
)

// Flags are the `tend gateway` flags that give a gateway process o (those that differ
// from the defaults).
func (o TraceOptions) Flags() []string {
	var args []string
	if o.SampleRatio != DefaultTraceSample {
		args = append(args, "--trace-sample", strconv.FormatFloat(o.SampleRatio, 'g', -1, 64))
	}
	if o.Slow != DefaultTraceSlow {
		args = append(args, "--trace-slow", o.Slow.String())
	}
	return args
}

// GatewayService is the service name of the gateway's spans.
const GatewayService = "tend-gateway"

// spanBuffer bounds the spans kept between two collections (Spans).
const spanBuffer = 8192

// tracer keeps the gateway's finished spans until the server collects them.
type tracer struct {
	o TraceOptions

	mu      sync.Mutex
	spans   []trace.Span
	dropped atomic.Int64
}

// reqSpan is a request's trace context while it is proxied.
type reqSpan struct {
	trace   trace.TraceID
	id      trace.SpanID
	parent  trace.SpanID // the client's span, when it sent a traceparent
	sampled bool
	header  string // the traceparent the instance and the client get
}

// begin gives the request a span: of the client's trace when its traceparent is valid,
// else of a new one sampled at the configured ratio.
func (t *tracer) begin(s *reqSpan, incoming string) {
	if tid, pid, flags, ok := parseTraceparent(incoming); ok {
		s.trace, s.parent, s.sampled = tid, pid, flags&1 == 1
	} else {
		putUint64(s.trace[:8], rand.Uint64())
		putUint64(s.trace[8:], rand.Uint64()|1) // never all zero
		s.sampled = rand.Float64() < t.o.SampleRatio
	}
	putUint64(s.id[:], rand.Uint64()|1)
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], s.trace[:])
	b[35] = '-'
	hex.Encode(b[36:52], s.id[:])
	copy(b[52:], "-00")
	if s.sampled {
		b[54] = '1'
	}
	s.header = string(b[:])
}

// finished is how a request went, for its span.
type finished struct {
	route    *appRoute
	backend  *backend
	code     int
	retried  bool
	answered bool          // the instance's response head came
	upstream time.Duration // the instance's part of the time
}

// end keeps the span of a finished request when it was sampled, failed or was slow.
// Its strings may point into a reused buffer: what is kept is copied.
func (t *tracer) end(s *reqSpan, st finished, method, path, host string, start, end time.Time) (kept bool) {
	failed := st.code >= 500 || st.code == 0 || st.code == statusClientGone
	if !s.sampled && !failed && (t.o.Slow <= 0 || end.Sub(start) < t.o.Slow) {
		return false
	}
	path, host = strings.Clone(path), strings.Clone(host)
	rt, b := st.route, st.backend
	sp := trace.Span{Trace: s.trace, ID: s.id, Parent: s.parent, Service: GatewayService, Name: method + " " + rt.app,
		Kind: trace.KindServer, Start: start, End: end}
	sp.Attributes = map[string]any{"tend.app": rt.app, "http.request.method": method, "url.path": path, "server.address": host,
		"http.response.status_code": int64(st.code), "tend.sampled": s.sampled}
	if b != nil {
		sp.Attributes["tend.revision"] = int64(b.revision)
		sp.Attributes["tend.instance"] = b.instance
		sp.Attributes["server.instance.address"] = b.hostport
	}
	if st.answered {
		sp.Attributes["tend.upstream.duration_ms"] = float64(st.upstream) / 1e6
	}
	if st.retried {
		sp.Attributes["tend.retries"] = int64(1)
	}
	if failed {
		sp.Error = true
		sp.Message = "answered " + strconv.Itoa(st.code)
		if st.code == 0 || st.code == statusClientGone {
			sp.Message = "no answer (the client went away, or the response was cut short)"
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.spans) >= spanBuffer {
		t.dropped.Add(1)
		return false
	}
	t.spans = append(t.spans, sp)
	return true
}

// take returns the spans kept since the last take.
func (t *tracer) take() []trace.Span {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.spans
	t.spans = nil
	return out
}

// parseTraceparent reads a W3C traceparent of version 00 (or a later one, by its first
// four fields): trace id, parent span id and flags.
func parseTraceparent(v string) (tid trace.TraceID, pid trace.SpanID, flags byte, ok bool) {
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (len(v) > 55 && (v[:2] == "00" || v[55] != '-')) || v[:2] == "ff" {
		return tid, pid, 0, false
	}
	var ver, fl [1]byte
	if _, err := hex.Decode(ver[:], []byte(v[:2])); err != nil {
		return tid, pid, 0, false
	}
	if _, err := hex.Decode(tid[:], []byte(v[3:35])); err != nil || tid.IsZero() {
		return tid, pid, 0, false
	}
	if _, err := hex.Decode(pid[:], []byte(v[36:52])); err != nil || pid.IsZero() {
		return tid, pid, 0, false
	}
	if _, err := hex.Decode(fl[:], []byte(v[53:55])); err != nil {
		return tid, pid, 0, false
	}
	return tid, pid, fl[0], true
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// Spans returns the spans finished since the last call (none when the gateway does not
// trace), and how many were dropped since it started for want of room between calls.
func (g *Gateway) Spans() (spans []trace.Span, dropped int64) {
	if g.tracer == nil {
		return nil, 0
	}
	return g.tracer.take(), g.tracer.dropped.Load()
}

// addTraceparent tells the client the trace its request is part of, unless the app
// said it itself.
func addTraceparent(h http.Header, value string) {
	if value != "" && h.Get("Traceparent") == "" {
		h["Traceparent"] = []string{value}
	}
}

// Package trace keeps the spans of requests followed across the gateway and the services behind it: their domain types, the OTLP form they arrive and leave in, and a store bounded by age and size.
package trace

import (
	"encoding/hex"
	"fmt"
	"time"
)

// TraceID and SpanID are W3C trace context ids, printed as lowercase hex.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// IsZero reports an all-zero id, which W3C trace context calls invalid.
func (t TraceID) IsZero() bool { return t == TraceID{} }
func (s SpanID) IsZero() bool  { return s == SpanID{} }

// ParseTraceID reads 32 hex digits.
func ParseTraceID(s string) (TraceID, error) {
	var t TraceID
	if len(s) != 32 {
		return t, fmt.Errorf("trace id %q: want 32 hex digits, as in a traceparent header or a log line's trace_id", s)
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil || t.IsZero() {
		return t, fmt.Errorf("trace id %q: want 32 hex digits, not all zero, as in a traceparent header or a log line's trace_id", s)
	}
	return t, nil
}

// Kind is what side of a call a span stands for.
type Kind string

const (
	KindInternal Kind = "internal"
	KindServer   Kind = "server"
	KindClient   Kind = "client"
	KindProducer Kind = "producer"
	KindConsumer Kind = "consumer"
)

// Span is one operation of a trace: a request the gateway proxied, a handler a service
// ran, a call it made.
type Span struct {
	Trace  TraceID
	ID     SpanID
	Parent SpanID // zero for a trace's root
	// Service is the resource's service.name: the app for tend's instances, "tend-gateway"
	// for the gateway's spans.
	Service string
	Name    string
	Kind    Kind
	Start   time.Time
	End     time.Time
	// Error is true for a span whose status is error; Message says why.
	Error   bool
	Message string
	// Attributes are the span's, and Resource the resource's beyond service.name: string,
	// int64, float64 or bool values (others as their string form).
	Attributes map[string]any
	Resource   map[string]any
}

// Duration is how long the span took.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// App is the tend app the span is about: the gateway's spans name it in tend.app, an
// instance's resource does (tend sets OTEL_RESOURCE_ATTRIBUTES), else its service name.
func (s Span) App() string {
	if a, ok := s.Attributes["tend.app"].(string); ok && a != "" {
		return a
	}
	if a, ok := s.Resource["tend.app"].(string); ok && a != "" {
		return a
	}
	return s.Service
}

package v1

import "time"

// TraceSummary is a trace in a listing (GET /v1/traces).
type TraceSummary struct {
	TraceID  string    `json:"traceId"`
	Start    time.Time `json:"start"`
	Duration Duration  `json:"duration"`
	// Root is the trace's first span: the gateway's for a request from outside.
	Root TraceRoot `json:"root"`
	// Spans and Errors count the trace's spans and its failed ones; Apps are the apps
	// (or services) with a span in it.
	Spans  int      `json:"spans"`
	Errors int      `json:"errors"`
	Apps   []string `json:"apps"`
}

// TraceRoot is what a listing says of a trace's root span.
type TraceRoot struct {
	Service string `json:"service"`
	Name    string `json:"name"`
	// Status is its HTTP status, when it has one.
	Status int  `json:"status,omitempty"`
	Error  bool `json:"error,omitempty"`
}

// Trace is one trace's spans (GET /v1/traces/{id}), by start time.
type Trace struct {
	TraceID string `json:"traceId"`
	Spans   []Span `json:"spans"`
	// Hidden counts the spans of apps the caller's token may not see, left out.
	Hidden int `json:"hidden,omitempty"`
}

// Span is one operation of a trace.
type Span struct {
	SpanID string `json:"spanId"`
	// ParentID is absent for the trace's root.
	ParentID string    `json:"parentId,omitempty"`
	Service  string    `json:"service"`
	App      string    `json:"app"`
	Name     string    `json:"name"`
	Kind     SpanKind  `json:"kind"`
	Start    time.Time `json:"start"`
	Duration Duration  `json:"duration"`
	Error    bool      `json:"error,omitempty"`
	Message  string    `json:"message,omitempty"`
	// Attributes are the span's, Resource its service's (beyond service.name): strings,
	// numbers and booleans.
	Attributes map[string]any `json:"attributes,omitempty"`
	Resource   map[string]any `json:"resource,omitempty"`
}

// SpanKind is what a span is, as OpenTelemetry names it.
type SpanKind string

// The span kinds.
const (
	SpanServer   SpanKind = "server"
	SpanClient   SpanKind = "client"
	SpanInternal SpanKind = "internal"
	SpanProducer SpanKind = "producer"
	SpanConsumer SpanKind = "consumer"
)

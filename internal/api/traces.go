package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/trace"
)

// Traces keeps the spans the gateway and the instances send (a trace.Store).
type Traces interface {
	Find(q trace.Query) []trace.Summary
	Trace(id trace.TraceID) ([]trace.Span, error)
}

// traceParams describe the query parameters of GET /v1/traces.
var traceParams = []param{
	{name: "app", desc: "only traces with a span of this app", value: ""},
	{name: "since", desc: "only traces that started at or after this time: RFC 3339, or a duration (15m) before now", value: ""},
	{name: "until", desc: "only traces that started at or before this time: RFC 3339, or a duration before now", value: ""},
	{name: "minDuration", desc: "only traces at least this long (500ms)", value: ""},
	{name: "status", desc: "error: only traces with a failed span", value: schema{"type": "string", "enum": []string{"error"}}},
	{name: "limit", desc: "the most traces (default 20, at most 1000)", value: 0},
	{name: "order", desc: "newest (the default) or slowest first", value: schema{"type": "string", "enum": []string{"newest", "slowest"}}},
}

// routeTraces registers the trace routes: what instances and collectors send, and what
// tend traces and tend trace read.
func (s *server) routeTraces(r *router) {
	if s.o.OTLP != nil {
		r.handle("POST /v1/traces", s.o.OTLP.ServeHTTP, op{summary: "take spans in OTLP/HTTP (protobuf or JSON, gzip or not), as OpenTelemetry SDKs and collectors send them",
			request: raw("application/x-protobuf"), response: raw("application/x-protobuf")})
	}
	r.handle("GET /v1/traces", s.traces, op{summary: "the traces kept, newest first", params: traceParams, response: jsonOf([]v1.TraceSummary{})})
	r.handle("GET /v1/traces/{trace}", s.trace, op{summary: "one trace's spans, by start time (404: none kept)", response: jsonOf(v1.Trace{})})
	r.handle("GET /v1/traces/{trace}/logs", s.traceLogs, op{summary: "every log line that carries the trace id, of every app the token may read, current and rotated logs, by time (found through the logs' trace index)",
		params: []param{{name: "app", desc: "only this app's lines", value: ""}}, response: jsonOf([]v1.LogLine{})})
}

func (s *server) traceLogs(w http.ResponseWriter, r *http.Request) {
	id, err := trace.ParseTraceID(r.PathValue("trace"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	app := r.URL.Query().Get("app")
	if app != "" && !visible(r, app) {
		writeError(w, http.StatusForbidden, fmt.Errorf("this token may not read %s's logs", app))
		return
	}
	if s.o.PodLogs != nil {
		writeError(w, http.StatusNotImplemented, errors.New("the trace index covers the logs tend keeps (the process runtime's); pods log on their nodes: tend logs APP --grep "+id.String()+" --tail -1 reads them"))
		return
	}
	lines, err := logs.FindTrace(r.Context(), s.o.DataDir, id, func(a string) bool { return (app == "" || a == app) && visible(r, a) })
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]v1.LogLine, 0, len(lines))
	for _, l := range lines {
		out = append(out, v1.LogLine{App: l.App, Instance: l.Instance, Revision: l.Revision, Text: l.Text, At: l.At})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) traces(w http.ResponseWriter, r *http.Request) {
	q, err := traceQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if q.App != "" && !visible(r, q.App) {
		writeError(w, http.StatusForbidden, fmt.Errorf("this token may not read %s's traces", q.App))
		return
	}
	q.Visible = func(app string) bool { return visible(r, app) }
	out := []v1.TraceSummary{}
	for _, t := range s.o.Traces.Find(q) {
		out = append(out, traceSummaryOf(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// traceQuery reads GET /v1/traces's parameters.
func traceQuery(r *http.Request) (trace.Query, error) {
	v := r.URL.Query()
	now := time.Now()
	q := trace.Query{App: v.Get("app")}
	var err error
	if q.Since, err = LogTime("since", v.Get("since"), now); err != nil {
		return q, err
	}
	if q.Until, err = LogTime("until", v.Get("until"), now); err != nil {
		return q, err
	}
	if s := v.Get("minDuration"); s != "" {
		if q.MinDuration, err = time.ParseDuration(s); err != nil || q.MinDuration < 0 {
			return q, fmt.Errorf("minDuration %q: want a duration like 500ms", s)
		}
	}
	switch s := v.Get("status"); s {
	case "":
	case "error":
		q.Errors = true
	default:
		return q, fmt.Errorf("status %q: want error (or none, for every trace)", s)
	}
	switch s := v.Get("order"); s {
	case "", "newest":
	case "slowest":
		q.Slowest = true
	default:
		return q, fmt.Errorf("order %q: want newest or slowest", s)
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > 1000 {
			return q, fmt.Errorf("limit %q: want a number of traces from 1 to 1000", s)
		}
	}
	return q, nil
}

func (s *server) trace(w http.ResponseWriter, r *http.Request) {
	id, err := trace.ParseTraceID(r.PathValue("trace"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	spans, err := s.o.Traces.Trace(id)
	if err == nil && len(spans) == 0 {
		writeError(w, http.StatusNotFound, fmt.Errorf("no trace %s is kept: it was not sampled (only failed and slow requests are kept beyond the sample), is older than --trace-retention, or its spans have not arrived yet", id))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := v1.Trace{TraceID: id.String(), Spans: []v1.Span{}}
	for _, sp := range spans {
		if !visible(r, sp.App()) {
			out.Hidden++
			continue
		}
		out.Spans = append(out.Spans, spanOf(sp))
	}
	if len(out.Spans) == 0 {
		writeError(w, http.StatusForbidden, fmt.Errorf("trace %s has no span of an app this token may read", id))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

package api

import (
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/trace"
)

// traceSummaryOf is a kept trace as GET /v1/traces lists it.
func traceSummaryOf(t trace.Summary) v1.TraceSummary {
	out := v1.TraceSummary{TraceID: t.Trace.String(), Start: t.Start, Duration: v1.Duration(t.Duration), Spans: t.Spans, Errors: t.Errors, Apps: t.Services,
		Root: v1.TraceRoot{Service: t.Root.Service, Name: t.Root.Name, Error: t.Root.Error}}
	if code, ok := t.Root.Attributes["http.response.status_code"].(int64); ok {
		out.Root.Status = int(code)
	}
	if out.Apps == nil {
		out.Apps = []string{}
	}
	return out
}

// spanOf is a span as GET /v1/traces/{id} answers it.
func spanOf(s trace.Span) v1.Span {
	out := v1.Span{SpanID: s.ID.String(), Service: s.Service, App: s.App(), Name: s.Name, Kind: v1.SpanKind(s.Kind), Start: s.Start,
		Duration: v1.Duration(s.Duration()), Error: s.Error, Message: s.Message, Attributes: s.Attributes, Resource: s.Resource}
	if !s.Parent.IsZero() {
		out.ParentID = s.Parent.String()
	}
	return out
}

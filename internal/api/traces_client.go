package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
)

// TraceFilter selects traces for Traces (zero fields: no bound).
type TraceFilter struct {
	App          string
	Since, Until string // RFC 3339, or a duration before now
	MinDuration  time.Duration
	Status       string // "error": only failed traces
	Limit        int
	Slowest      bool // the longest first, instead of the newest
}

// Traces lists the kept traces the filter selects, newest first.
func (c *Client) Traces(ctx context.Context, f TraceFilter) ([]v1.TraceSummary, error) {
	q := url.Values{}
	for k, v := range map[string]string{"app": f.App, "since": f.Since, "until": f.Until, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.MinDuration > 0 {
		q.Set("minDuration", f.MinDuration.String())
	}
	if f.Slowest {
		q.Set("order", "slowest")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := "/v1/traces"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []v1.TraceSummary
	return out, c.getJSON(ctx, http.MethodGet, path, nil, &out)
}

// Trace returns one trace's spans.
func (c *Client) Trace(ctx context.Context, id string) (*v1.Trace, error) {
	var out v1.Trace
	return &out, c.getJSON(ctx, http.MethodGet, "/v1/traces/"+url.PathEscape(id), nil, &out)
}

// TraceLogs returns the log lines that carry the trace id, of every app the token may
// read (app: of that one only), by time.
func (c *Client) TraceLogs(ctx context.Context, id, app string) ([]v1.LogLine, error) {
	path := "/v1/traces/" + url.PathEscape(id) + "/logs"
	if app != "" {
		path += "?" + url.Values{"app": {app}}.Encode()
	}
	var out []v1.LogLine
	return out, c.getJSON(ctx, http.MethodGet, path, nil, &out)
}

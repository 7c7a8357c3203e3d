package api

import (
	"context"
	"fmt"
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

// Exemplar is a trace a latency histogram points at: its id and the request's time.
type Exemplar struct {
	TraceID string
	Seconds float64
	At      time.Time
}

// SlowestExemplar returns the slowest request of an app's revision between two times
// whose trace the gateway kept, from its latency histogram's exemplars (ok false: none).
func (c *Client) SlowestExemplar(ctx context.Context, app string, revision int, since, until time.Time) (Exemplar, bool, error) {
	q := url.Values{"query": {fmt.Sprintf(`tend_gateway_request_duration_seconds_bucket{app=%q,revision="%d"}`, app, revision)},
		"start": {since.UTC().Format(time.RFC3339Nano)}, "end": {until.UTC().Format(time.RFC3339Nano)}}
	var body struct {
		Data []struct {
			Exemplars []struct {
				Labels    map[string]string `json:"labels"`
				Value     string            `json:"value"`
				Timestamp float64           `json:"timestamp"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, http.MethodGet, "/prometheus/api/v1/query_exemplars?"+q.Encode(), nil, &body); err != nil {
		return Exemplar{}, false, err
	}
	var best Exemplar
	for _, s := range body.Data {
		for _, e := range s.Exemplars {
			v, err := strconv.ParseFloat(e.Value, 64)
			if err == nil && e.Labels["trace_id"] != "" && v > best.Seconds {
				best = Exemplar{TraceID: e.Labels["trace_id"], Seconds: v, At: time.UnixMilli(int64(e.Timestamp * 1000))}
			}
		}
	}
	return best, best.TraceID != "", nil
}

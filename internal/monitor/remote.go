package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Remote queries an external Prometheus (tend server --prometheus-url) through its HTTP API.
type Remote struct {
	// URL is the Prometheus base URL, e.g. http://127.0.0.1:9090.
	URL    string
	Client *http.Client
}

// Query evaluates q at t on the external Prometheus.
func (r *Remote) Query(ctx context.Context, q string, t time.Time) (Vector, error) {
	v := url.Values{"query": {q}, "time": {formatUnix(t)}}
	var res struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := r.get(ctx, "/api/v1/query", v, &res); err != nil {
		return nil, err
	}
	switch res.ResultType {
	case "vector":
		var raw []struct {
			Metric map[string]string `json:"metric"`
			Value  pair              `json:"value"`
		}
		if err := json.Unmarshal(res.Result, &raw); err != nil {
			return nil, fmt.Errorf("query %q on %s: %w", q, r.where(), err)
		}
		out := make(Vector, 0, len(raw))
		for _, s := range raw {
			out = append(out, Sample{Labels: s.Metric, Value: s.Value.v, T: s.Value.t})
		}
		return out, nil
	case "scalar":
		var p pair
		if err := json.Unmarshal(res.Result, &p); err != nil {
			return nil, fmt.Errorf("query %q on %s: %w", q, r.where(), err)
		}
		return Vector{{Labels: map[string]string{}, Value: p.v, T: p.t}}, nil
	}
	return nil, fmt.Errorf("query %q on %s: want an instant vector or a scalar, got a %s", q, r.where(), res.ResultType)
}

// QueryRange evaluates q at each step on the external Prometheus.
func (r *Remote) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) (Matrix, error) {
	v := url.Values{"query": {q}, "start": {formatUnix(start)}, "end": {formatUnix(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	var res struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values []pair            `json:"values"`
		} `json:"result"`
	}
	if err := r.get(ctx, "/api/v1/query_range", v, &res); err != nil {
		return nil, err
	}
	out := make(Matrix, 0, len(res.Result))
	for _, s := range res.Result {
		ser := Series{Labels: s.Metric}
		for _, p := range s.Values {
			ser.Points = append(ser.Points, Point{T: p.t, V: p.v})
		}
		out = append(out, ser)
	}
	return out, nil
}

func (r *Remote) get(ctx context.Context, path string, v url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(r.URL, "/")+path+"?"+v.Encode(), nil)
	if err != nil {
		return fmt.Errorf("prometheus URL %q is not a URL: want one like http://127.0.0.1:9090", r.where())
	}
	c := r.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("query Prometheus at %s: %w", r.where(), err)
	}
	defer resp.Body.Close()
	var body apiResponse
	body.Data = data
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("query Prometheus at %s: %w", r.where(), err)
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return fmt.Errorf("query Prometheus at %s: %s: not a Prometheus API answer: %w", r.where(), resp.Status, err)
	}
	if body.Status != "success" {
		qe := &QueryError{Query: v.Get("query"), Bad: body.ErrorType == "bad_data", Err: fmt.Errorf("%s: %s", body.ErrorType, body.Error)}
		return qe
	}
	return nil
}

// where is the URL for messages, without the password it may carry.
func (r *Remote) where() string {
	if u, err := url.Parse(r.URL); err == nil {
		return u.Redacted()
	}
	return "the configured Prometheus"
}

// pair is a [unix seconds, "value"] pair of the API.
type pair struct {
	t time.Time
	v float64
}

func (p *pair) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var ts float64
	var s string
	if err := json.Unmarshal(raw[0], &ts); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[1], &s); err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	p.t, p.v = time.UnixMilli(int64(ts*1000)), v
	return nil
}

func formatUnix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tendhq/tend/internal/trace"
)

// Client talks to a gateway process over its control socket: the server pushes routing
// through it, drains instances, reads the live state and gathers the gateway's metrics.
type Client struct {
	paths Paths
	http  *http.Client
}

// NewClient returns a client of the gateway whose directory is dir.
func NewClient(dir string) *Client {
	p := Paths{Dir: dir}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p.Control())
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{paths: p, http: &http.Client{Transport: tr}}
}

// Paths are the files of the gateway this client talks to.
func (c *Client) Paths() Paths { return c.paths }

// CloseIdle closes kept connections: after a gateway was replaced, the next request
// reaches the new one.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://gateway"+path, rd)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("gateway control socket %s: %w", c.paths.Control(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp.StatusCode, fmt.Errorf("gateway: %s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("gateway: %s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Info asks the gateway about itself.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	_, err := c.do(ctx, http.MethodGet, "/v1/info", nil, &i)
	return i, err
}

// Push replaces the gateway's routing with r and returns once it is applied.
func (c *Client) Push(ctx context.Context, r Routing) error {
	r.Format = routingFormat
	var ack struct {
		Version int64 `json:"version"`
	}
	if _, err := c.do(ctx, http.MethodPut, "/v1/routing", r, &ack); err != nil {
		return err
	}
	if ack.Version != r.Version {
		return fmt.Errorf("gateway acknowledged routing version %d, pushed %d", ack.Version, r.Version)
	}
	return nil
}

// ErrStale is returned by Heartbeat when the gateway serves another routing version.
var ErrStale = errors.New("the gateway serves another routing version")

// Heartbeat tells the gateway that the server is there and that version is current.
func (c *Client) Heartbeat(ctx context.Context, version int64) error {
	code, err := c.do(ctx, http.MethodPost, "/v1/heartbeat?version="+strconv.FormatInt(version, 10), nil, nil)
	if code == http.StatusConflict {
		return ErrStale
	}
	return err
}

// Drain waits until the backend at hostport is out of the gateway's table and has no
// request in flight, or ctx ends.
func (c *Client) Drain(ctx context.Context, hostport string) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/drain?addr="+url.QueryEscape(hostport), nil, nil)
	return err
}

// State reports every routed app and its backends.
func (c *Client) State(ctx context.Context) ([]AppState, error) {
	var s []AppState
	_, err := c.do(ctx, http.MethodGet, "/v1/state", nil, &s)
	return s, err
}

// droppedHeader carries, on GET /v1/spans, how many spans the gateway dropped since it
// started because they were not collected in time.
const droppedHeader = "X-Tend-Spans-Dropped"

// Spans collects the spans of the requests the gateway finished since the last call,
// and how many it dropped since it started for want of a call.
func (c *Client) Spans(ctx context.Context) (spans []trace.Span, dropped int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gateway/v1/spans", nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("gateway control socket %s: %w", c.paths.Control(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("collect the gateway's spans: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("collect the gateway's spans: %w", err)
	}
	dropped, _ = strconv.ParseInt(resp.Header.Get(droppedHeader), 10, 64)
	spans, _, err = trace.Unmarshal(b)
	return spans, dropped, err
}

// Wanted long-polls the hosts waiting for on-demand certificates: it returns those
// wanted after seq after (0: all) as soon as there are any, or none after wait. Pass
// the largest Seq seen as the next after.
func (c *Client) Wanted(ctx context.Context, wait time.Duration, after int64) ([]WantedHost, error) {
	var out []WantedHost
	_, err := c.do(ctx, http.MethodGet, "/v1/wanted?wait="+url.QueryEscape(wait.String())+"&after="+strconv.FormatInt(after, 10), nil, &out)
	return out, err
}

// Gather reads the gateway's metrics (it is a prometheus.Gatherer).
func (c *Client) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gateway/metrics", nil)
	if err != nil {
		return nil, err
	}
	format := expfmt.NewFormat(expfmt.TypeProtoDelim)
	req.Header.Set("Accept", string(format))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gather the gateway's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("gather the gateway's metrics: %s", resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("decode the gateway's metrics: %w", err)
		}
		out = append(out, mf)
	}
}

package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/monitor"
)

// Client talks to a tend server's API.
type Client struct {
	// Base is the server's URL, e.g. http://127.0.0.1:7070.
	Base  string
	Token string
	// HTTP sends the requests (nil: http.DefaultClient); NewHTTPClient makes one that
	// verifies an https:// server against a CA file.
	HTTP *http.Client
	// TokenFrom says where Token came from (like "TEND_TOKEN"), for the error a wrong
	// token gets; Trust says what verifies the server's certificate ("": the system's
	// roots), for the error a certificate that does not verify gets.
	TokenFrom, Trust string
}

// Error is an error answer from the server, with its HTTP status.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// NotFound reports whether err is the server saying the app does not exist.
func NotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == http.StatusNotFound
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, ctype = b.r, b.contentType
	default:
		j, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if tlsErr := c.tlsError(err); tlsErr != nil {
			return nil, tlsErr
		}
		return nil, fmt.Errorf("reach the tend server at %s: %w (is `tend server` running? set TEND_API to its address)", c.Base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb v1.ErrorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
		}
		eb.Error += c.answerHint(resp.StatusCode, b)
		return nil, &Error{Code: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w%s", method, path, err, olderServer(resp))
	}
	return nil
}

// olderServer says, for an answer that did not decode, when the server speaks another
// version of the API than this client.
func olderServer(resp *http.Response) string {
	switch got := resp.Header.Get(v1.VersionHeader); got {
	case strconv.Itoa(v1.Version):
		return ""
	case "":
		return fmt.Sprintf(" (the tend server predates API version %d, which this CLI speaks: upgrade tend server, or use the CLI of its version)", v1.Version)
	default:
		return fmt.Sprintf(" (the tend server speaks API version %s, this CLI %d: use a CLI of the server's version)", got, v1.Version)
	}
}

// Version asks the server for its version.
func (c *Client) Version(ctx context.Context) (v1.VersionInfo, error) {
	var v v1.VersionInfo
	return v, c.getJSON(ctx, http.MethodGet, "/v1/version", nil, &v)
}

// Apps lists every app with its status.
func (c *Client) Apps(ctx context.Context) ([]v1.App, error) {
	var v []v1.App
	return v, c.getJSON(ctx, http.MethodGet, "/v1/apps", nil, &v)
}

// Status reports one app.
func (c *Client) Status(ctx context.Context, app string) (v1.App, error) {
	var v v1.App
	return v, c.getJSON(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app), nil, &v)
}

// Gateway reports what the gateway routes now: per app, its splits and endpoints with
// in-flight requests and ejections.
func (c *Client) Gateway(ctx context.Context) ([]v1.Route, error) {
	var v []v1.Route
	return v, c.getJSON(ctx, http.MethodGet, "/v1/gateway", nil, &v)
}

// History lists an app's revisions and recent events.
func (c *Client) History(ctx context.Context, app string, limit int) (v1.History, error) {
	var v v1.History
	return v, c.getJSON(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/history?limit="+strconv.Itoa(limit), nil, &v)
}

// Autoscale reads an autoscaled app's state and the autoscaler's recent changes.
func (c *Client) Autoscale(ctx context.Context, app string) (v1.AutoscaleHistory, error) {
	var v v1.AutoscaleHistory
	return v, c.getJSON(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/autoscale", nil, &v)
}

// Action runs promote, abort, pause, resume, restart, scale or rollback on an app.
func (c *Client) Action(ctx context.Context, app, action string, req v1.ActionRequest) (v1.ActionResult, error) {
	var v v1.ActionResult
	return v, c.getJSON(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/"+action, req, &v)
}

// Delete removes an app; purge removes its history and secrets too.
func (c *Client) Delete(ctx context.Context, app string, purge bool) (v1.DeleteResult, error) {
	var v v1.DeleteResult
	path := "/v1/apps/" + url.PathEscape(app)
	if purge {
		path += "?purge=1"
	}
	return v, c.getJSON(ctx, http.MethodDelete, path, nil, &v)
}

// Deploy sends a spec; build output goes to onLog as it happens.
func (c *Client) Deploy(ctx context.Context, req v1.DeployRequest, onLog func(string)) (v1.DeployResult, error) {
	resp, err := c.do(ctx, http.MethodPost, "/v1/deploy", req)
	if err != nil {
		return v1.DeployResult{}, err
	}
	defer resp.Body.Close()
	var res *v1.DeployResult
	err = decodeStream(resp.Body, func(l v1.StreamLine) error {
		switch {
		case l.Error != "":
			return &Error{Code: l.Code, Message: l.Error}
		case l.Result != nil:
			res = l.Result
		default:
			onLog(l.Log)
		}
		return nil
	})
	var answer *Error
	if err != nil && !errors.As(err, &answer) {
		return v1.DeployResult{}, fmt.Errorf("%w%s", err, olderServer(resp))
	}
	if err != nil {
		return v1.DeployResult{}, err
	}
	if res == nil {
		return v1.DeployResult{}, errors.New("the server ended the deploy without a result; see `tend history` and the server log")
	}
	return *res, nil
}

// Watch calls fn with the app's rollout state now and at every change, until fn returns
// an error (returned, except ErrStop) or ctx ends.
func (c *Client) Watch(ctx context.Context, app string, fn func(v1.Rollout) error) error {
	resp, err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/watch", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = decodeStream(resp.Body, fn)
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// ErrStop ends a Watch or Logs without error.
var ErrStop = errors.New("stop")

// LogQuery selects the log lines Logs asks for (GET /v1/apps/{app}/logs); its zero
// value asks for no lines at all.
type LogQuery struct {
	// Instance is one instance, running or not ("": all).
	Instance string
	// Revision is one revision's instances (0: all).
	Revision int
	// Tail is how many lines to start with in total, after the filters (0: none, -1: all).
	Tail   int
	Follow bool
	// Since and Until bound the lines' times: RFC 3339, or a duration before the server's now ("": none).
	Since, Until string
	// Grep is a Go regular expression the raw line must match ("": any).
	Grep string
	// Level is the least slog level of the lines (debug, info, warn, error; "": every line).
	Level string
	// All includes the logs of instances that no longer run; Previous reads only those.
	All, Previous bool
}

// Logs streams an app's log lines to fn.
func (c *Client) Logs(ctx context.Context, app string, lq LogQuery, fn func(v1.LogLine) error) error {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("instance", lq.Instance)
	if lq.Revision != 0 {
		q.Set("revision", strconv.Itoa(lq.Revision))
	}
	q.Set("tail", strconv.Itoa(lq.Tail))
	if lq.Follow {
		q.Set("follow", "1")
	}
	set("since", lq.Since)
	set("until", lq.Until)
	set("grep", lq.Grep)
	set("level", lq.Level)
	if lq.All {
		q.Set("all", "1")
	}
	if lq.Previous {
		q.Set("previous", "1")
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// the stream's lines are log lines, and a last {"error": ...} when reading fails
	type line struct {
		v1.LogLine
		Error string `json:"error"`
	}
	err = decodeStream(resp.Body, func(l line) error {
		if l.Error != "" {
			return fmt.Errorf("logs: %s", l.Error)
		}
		return fn(l.LogLine)
	})
	if errors.Is(err, ErrStop) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// decodeStream reads newline-delimited JSON values of type T.
func decodeStream[T any](r io.Reader, fn func(T) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return fmt.Errorf("decode stream: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Prometheus returns a querier for the server's Prometheus-compatible API (/prometheus),
// carrying the client's token.
func (c *Client) Prometheus() *monitor.Remote {
	base := c.httpClient()
	return &monitor.Remote{URL: strings.TrimRight(c.Base, "/") + "/prometheus",
		Client: &http.Client{Timeout: 2 * time.Minute, Transport: bearer{token: c.Token, next: base.Transport}}}
}

// bearer adds the API token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	next := b.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Package api serves tend's HTTP+JSON API, the only way to change a running tend server, and provides its typed client.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/rollout"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/upload"
)

// PodLogs reads an app's instance logs from where they are kept (the kubernetes
// runtime: pods/log), filtered and counted as the logs in DataDir are.
type PodLogs interface {
	Logs(ctx context.Context, app string, q logs.Query, previous bool, emit func(logs.Line) error) error
}

// Options configure the API handler.
type Options struct {
	Controller *controller.Controller
	// Token is the bearer token every request must carry.
	Token string
	// DataDir is where instance logs are read from.
	DataDir string
	// PodLogs, when set, reads instance logs that are not files in DataDir: the
	// kubernetes runtime's pods, through the API server.
	PodLogs PodLogs
	Version string
	Logger  *slog.Logger
	// Gateway reports the gateway's live state (nil: not available).
	Gateway func() []gateway.AppState
	// Room says whether the data dir can take what a deploy, a scale or a restart writes
	// (artifacts, logs); nil means always. Promote, abort, pause, resume and rollback are
	// never refused for lack of space: they are what an incident needs.
	Room func() error
	// Prometheus serves the Prometheus-compatible query API, mounted at /prometheus (nil: none).
	Prometheus http.Handler
	// Alertmanager serves the embedded Alertmanager's API v2 under /alertmanager (nil: none).
	Alertmanager http.Handler
	// Incidents keeps incidents, runbooks and the remediation switch (nil: none).
	Incidents *incident.Manager
	// Certs lists the gateway's certificate records (nil: no HTTPS listener).
	Certs func(context.Context) ([]store.Certificate, error)
	// Secrets keeps apps' secrets (nil: none).
	Secrets Secrets
	// Uploads keeps the files clients send to deploy from (nil: deploys build from
	// paths on the server's disk only).
	Uploads *upload.Store
	// Target is the platform of the executables the server runs.
	Target v1.Target
	// Tokens keeps the scoped tokens and the audit log (nil: Token is the only token,
	// and no call is recorded).
	Tokens Tokens
	// Traces keeps spans (nil: no trace routes); OTLP takes them in OTLP/HTTP on POST
	// /v1/traces (nil: not on the API).
	Traces Traces
	OTLP   http.Handler
	// Backups runs and lists backups (nil: no backup routes).
	Backups Backups
}

type server struct {
	o   Options
	c   *controller.Controller
	log *slog.Logger
	// endpoints are the /v1 routes, as routes registered them.
	endpoints []endpoint
	uploads   *uploadLimits
}

// Handler returns the API. Every route needs "Authorization: Bearer <token>".
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{o: o, c: o.Controller, log: o.Logger, uploads: newUploadLimits()}
	return s.auth(s.routes())
}

// routes registers every route. A /v1 route goes through the router, which records it
// for the OpenAPI description (GET /v1/openapi.json): its pattern, its handler, and
// what it takes and answers.
func (s *server) routes() *http.ServeMux {
	r := &router{mux: http.NewServeMux()}
	r.handle("GET /v1/version", s.version, op{summary: "the server's version and API version", response: jsonOf(v1.VersionInfo{})})
	r.handle("GET /v1/apps", s.list, op{summary: "every app with its status", response: jsonOf([]v1.App{})})
	r.handle("POST /v1/deploy", s.deploy, op{summary: "build a spec and roll it out: the build's output, then the result or the error",
		request: jsonOf(v1.DeployRequest{}), response: streamOf(v1.StreamLine{})})
	r.handle("GET /v1/apps/{app}", s.status, op{summary: "an app's status, with resources advice from its last hour of usage", response: jsonOf(v1.App{})})
	r.handle("GET /v1/apps/{app}/history", s.history, op{summary: "an app's revisions, newest first, and its latest events, oldest first",
		params: []param{{name: "limit", desc: "the most events (default 50)", value: 0}}, response: jsonOf(v1.History{})})
	r.handle("GET /v1/apps/{app}/autoscale", s.autoscale, op{summary: "an autoscaled app's bounds, its metrics against their targets, and the autoscaler's recent changes, oldest first",
		response: jsonOf(v1.AutoscaleHistory{})})
	r.handle("GET /v1/apps/{app}/watch", s.watch, op{summary: "an app's rollout now, then at every change, until the client goes away",
		response: streamOf(v1.Rollout{})})
	r.handle("GET /v1/apps/{app}/logs", s.logs, op{summary: "an app's log lines, merged by time; an error line ends the stream when reading fails",
		params: logParams, response: streamOf(v1.LogLine{}, v1.StreamLine{})})
	r.handle("POST /v1/apps/{app}/{action}", s.action, op{summary: "act on an app's rollout or instances",
		params:  []param{{name: "action", desc: "what to do", value: schema{"type": "string", "enum": []string{"promote", "abort", "pause", "resume", "restart", "scale", "rollback", "maintenance", "redeploy"}}}},
		request: jsonOf(v1.ActionRequest{}).orNone(), response: jsonOf(v1.ActionResult{})})
	r.handle("DELETE /v1/apps/{app}", s.deleteApp, op{summary: "delete an app: its route, spec and rollout go, its instances stop; its history stays unless purge",
		params:   []param{{name: "purge", desc: "1: remove its revisions, events and secrets too (an admin token only)", value: onOff}},
		response: jsonOf(v1.DeleteResult{})})
	r.handle("GET /v1/gateway", s.gateway, op{summary: "how the gateway routes each app now (404: no gateway)", response: jsonOf([]v1.Route{})})
	r.handle("GET /v1/certs", s.certs, op{summary: "the gateway's certificates (404: no HTTPS listener)", response: jsonOf([]v1.Certificate{})})
	if s.o.Prometheus != nil {
		r.mux.Handle("/prometheus/", http.StripPrefix("/prometheus", scopedPrometheus(s.o.Prometheus)))
	}
	if s.o.Alertmanager != nil {
		r.mux.Handle("/alertmanager/", spansApps(s.o.Alertmanager, "the Alertmanager"))
	}
	if s.o.Incidents != nil {
		s.routeIncidents(r)
	}
	if s.o.Secrets != nil {
		s.routeSecrets(r)
	}
	if s.o.Uploads != nil {
		s.routeUploads(r)
	}
	if s.o.Tokens != nil {
		s.routeTokens(r)
	}
	if s.o.Traces != nil {
		s.routeTraces(r)
	}
	if s.o.Backups != nil {
		s.routeBackups(r)
	}
	r.handle("GET /v1/openapi.json", s.openapi, op{summary: "this description of the API (OpenAPI 3.1)", response: jsonOf(map[string]any{})})
	s.endpoints = r.endpoints
	return r.mux
}

// noRoom answers 507 Insufficient Storage and reports true while the data dir is full.
func (s *server) noRoom(w http.ResponseWriter) bool {
	if s.o.Room == nil {
		return false
	}
	if err := s.o.Room(); err != nil {
		writeError(w, http.StatusInsufficientStorage, err)
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // thresholds are "< 1%", not "\u003c 1%"
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, v1.ErrorBody{Error: err.Error()})
}

// statusOf maps an error to the HTTP status that tells a script what went wrong.
func statusOf(err error) int {
	var invalid *controller.InvalidSpecError
	var taken *controller.HostTakenError
	switch {
	case errors.As(err, &invalid):
		return http.StatusBadRequest
	case errors.As(err, &taken):
		return http.StatusForbidden
	case errors.Is(err, controller.ErrUnknownApp):
		return http.StatusNotFound
	case errors.Is(err, rollout.ErrNoRollout), errors.Is(err, rollout.ErrNotPaused), errors.Is(err, rollout.ErrNotReady):
		return http.StatusConflict
	case errors.Is(err, controller.ErrRedeployed):
		return http.StatusConflict
	case errors.Is(err, controller.ErrStillStopping) && !errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout // deleted, but the wait for its instances ran out
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusUnprocessableEntity
}

func (s *server) version(w http.ResponseWriter, r *http.Request) {
	info := v1.VersionInfo{Version: s.o.Version, API: v1.Version}
	if s.o.Target.OS != "" {
		info.Target = &s.o.Target
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *server) gateway(w http.ResponseWriter, r *http.Request) {
	if s.o.Gateway == nil {
		writeError(w, http.StatusNotFound, errors.New("this server has no gateway"))
		return
	}
	var routes []gateway.AppState
	for _, a := range s.o.Gateway() {
		if visible(r, a.App) {
			routes = append(routes, a)
		}
	}
	writeJSON(w, http.StatusOK, wireRoutes(routes))
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	apps, err := s.c.List(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := make([]v1.App, 0, len(apps))
	for _, a := range apps {
		if visible(r, a.App) { // a token limited to apps sees only those
			out = append(out, wireApp(a))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.c.Status(r.Context(), r.PathValue("app"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	a := wireApp(st)
	if st.Current != nil {
		advice, err := s.c.Sizing(r.Context(), st.App)
		a.Sizing = wireSizing(advice, st.Current.Spec.Resources, err)
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	h, err := s.c.History(r.Context(), r.PathValue("app"), limit)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, wireHistory(h))
}

func (s *server) autoscale(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	changes, st, err := s.c.AutoscaleChanges(r.Context(), app)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, wireAutoscaleHistory(app, changes, st))
}

func (s *server) deploy(w http.ResponseWriter, r *http.Request) {
	if s.noRoom(w) {
		return // a build needs room for its artifact
	}
	var req v1.DeployRequest
	if err := decode(r.Body, 4<<20, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad deploy request: want JSON {\"file\": PATH, \"source\": YAML}: %w", err))
		return
	}
	// a spec that does not parse changes nothing: the controller says where it is wrong
	if app, err := spec.Parse(req.File, []byte(req.Source)); err == nil {
		if err := s.mayDeploy(r, app.App); err != nil {
			writeError(w, http.StatusForbidden, err)
			return
		}
		if req.Upload == "" {
			if err := s.mayDeployFromDisk(r); err != nil {
				writeError(w, http.StatusForbidden, err)
				return
			}
		}
	}
	src := controller.Source{File: req.File, Text: []byte(req.Source), Commit: req.Commit, Describe: req.Describe, Binary: req.Binary,
		ShareHosts: isAdmin(r), DryRun: req.DryRun}
	if req.Upload != "" {
		if s.o.Uploads == nil || !s.o.Uploads.Has(req.Upload) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("no upload %s on this server: send it first (PUT /v1/uploads/%s; tend deploy does)", req.Upload, req.Upload))
			return
		}
		s.o.Uploads.Touch(req.Upload) // not collected while this deploy builds from it
		src.Root = s.o.Uploads.Root(req.Upload)
	}
	st := newStream(w)
	res, err := s.c.DeploySource(r.Context(), src, st.logWriter())
	if err != nil {
		st.send(v1.StreamLine{Error: err.Error(), Code: statusOf(err)})
		streamFailed(r, statusOf(err), err)
		return
	}
	out := &v1.DeployResult{Revision: wireRevision(res.Revision), Created: res.Created, Unchanged: res.Unchanged, DryRun: res.DryRun}
	if res.DryRun {
		if res.Serving != nil {
			out.Serving = res.Serving.Number
			out.Changes = deployChanges(*res.Serving, res.Revision)
		} else {
			out.Changes = []string{"a new app"}
		}
	}
	st.send(v1.StreamLine{Result: out})
}

func (s *server) watch(w http.ResponseWriter, r *http.Request) {
	ch, err := s.c.Watch(r.Context(), r.PathValue("app"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	st := newStream(w)
	for state := range ch {
		st.send(wireRollout(state))
	}
}

func (s *server) action(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	var req v1.ActionRequest
	if err := decode(r.Body, 1<<20, &req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: want JSON like {\"to\": 3}: %w", err))
		return
	}
	action := r.PathValue("action")
	if (action == "scale" || action == "restart" || action == "redeploy") && s.noRoom(w) {
		return // new instances need room for their logs
	}
	ctx := r.Context()
	var res v1.ActionResult
	var err error
	switch action {
	case "promote":
		err = s.c.Promote(ctx, app, req.Full)
		res.Message = "promoted"
	case "abort":
		err = s.c.Abort(ctx, app)
		res.Message = "aborted; the stable revision serves all traffic"
	case "pause":
		err = s.c.Pause(ctx, app)
		res.Message = "paused; `tend resume " + app + "` goes on"
	case "resume":
		err = s.c.Resume(ctx, app)
		res.Message = "resumed"
	case "restart":
		err = s.c.Restart(ctx, app)
		res.Message = "restarted every instance"
	case "scale":
		if req.Instances == nil {
			writeError(w, http.StatusBadRequest, errors.New(`scale needs the instance count: {"instances": 3} (0 stops every instance)`))
			return
		}
		n := *req.Instances
		var as *spec.Autoscale
		as, err = s.c.Scale(ctx, app, n)
		res.Message = "scaling to " + strconv.Itoa(n)
		if as != nil && n > 0 {
			res.Message += fmt.Sprintf("; %s is autoscaled (min %d, max %d): the autoscaler keeps at least %d until the next deploy", app, as.Min, as.Max, n)
		}
		if n == 0 {
			res.Message = "scaled to zero: every instance stops, and the gateway answers 503 until `tend scale " + app + " N`"
		}
	case "rollback":
		res.Revision, err = s.c.Rollback(ctx, app, req.To)
		res.Message = "rolling back to revision " + strconv.Itoa(res.Revision)
	case "maintenance":
		if req.RetryAfterSeconds < 0 {
			writeError(w, http.StatusBadRequest, errors.New("retryAfterSeconds must not be negative"))
			return
		}
		err = s.c.Maintenance(ctx, app, req.On, req.Message, req.RetryAfterSeconds)
		res.Message = "out of maintenance; the gateway sends requests to the instances again"
		if req.On {
			res.Message = "in maintenance: the gateway answers 503; the instances keep running"
		}
	case "redeploy":
		var d controller.DeployResult
		d, err = s.c.Redeploy(ctx, app)
		res.Revision = d.Revision.Number
		switch {
		case d.Unchanged:
			res.Message = "revision " + strconv.Itoa(res.Revision) + " is what the spec and its secrets make: nothing to roll out"
		case d.Created:
			res.Message = "rolling out revision " + strconv.Itoa(res.Revision) + " (tend status " + app + " follows it)"
		default:
			res.Message = "rolling out revision " + strconv.Itoa(res.Revision)
		}
	default:
		writeError(w, http.StatusNotFound, errors.New("unknown action "+strconv.Quote(action)+": want one of promote, abort, pause, resume, restart, scale, rollback, maintenance, redeploy"))
		return
	}
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decode reads one JSON value of at most limit bytes into v; unknown fields and trailing
// data are errors, so that a typo in a script does not pass silently.
func decode(body io.Reader, limit int64, v any) error {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("the request is larger than the API takes (%d MiB): %w", limit>>20, err)
		}
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// stream writes newline-delimited JSON, flushing after each value.
type stream struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	enc *json.Encoder
	rc  *http.ResponseController
}

func newStream(w http.ResponseWriter) *stream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	return &stream{w: w, enc: json.NewEncoder(w), rc: http.NewResponseController(w)}
}

func (s *stream) send(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enc.Encode(v); err != nil {
		return err
	}
	return s.rc.Flush()
}

// logWriter turns written bytes into v1.StreamLine{Log} values, one per line.
func (s *stream) logWriter() io.Writer { return &lineWriter{s: s} }

type lineWriter struct {
	s   *stream
	buf []byte
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.buf = append(lw.buf, p...)
	for {
		i := strings.IndexByte(string(lw.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := lw.s.send(v1.StreamLine{Log: string(lw.buf[:i])}); err != nil {
			return 0, err
		}
		lw.buf = lw.buf[i+1:]
	}
}

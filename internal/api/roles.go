package api

// Who may call what: each call's token is checked (the data dir's token file, or a
// token of package token), then the role its route needs, by the table below, and for
// a token limited to apps, the app the call acts on.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/token"
)

// rule is what a route needs.
type rule struct {
	role token.Role
	// what is what the route does, for the answer that refuses it ("deploying"); a
	// read route needs none: every token may read.
	what string
}

// routeRoles maps each route, by the pattern it is registered with, to the least role
// that may call it. The handlers mounted under /prometheus/ and /alertmanager/ serve
// every method under one pattern: they are here by method and prefix. A route that is
// not here needs admin: a new route is refused to read and deploy tokens until it is
// added (TestEveryRouteHasARole fails until then).
var routeRoles = map[string]rule{
	"GET /v1/version":                      {role: token.Read},
	"GET /v1/openapi.json":                 {role: token.Read},
	"GET /v1/apps":                         {role: token.Read},
	"GET /v1/apps/{app}":                   {role: token.Read},
	"GET /v1/apps/{app}/history":           {role: token.Read},
	"GET /v1/apps/{app}/autoscale":         {role: token.Read},
	"GET /v1/apps/{app}/watch":             {role: token.Read},
	"GET /v1/apps/{app}/logs":              {role: token.Read},
	"GET /v1/apps/{app}/secrets":           {role: token.Read}, // names and versions, never values
	"GET /v1/gateway":                      {role: token.Read},
	"GET /v1/certs":                        {role: token.Read},
	"GET /v1/incidents":                    {role: token.Read},
	"GET /v1/traces":                       {role: token.Read}, // the traces with a span of an app the token may read
	"GET /v1/traces/{trace}":               {role: token.Read}, // the spans of apps the token may read
	"GET /v1/traces/{trace}/logs":          {role: token.Read}, // the log lines of apps the token may read
	"POST /v1/traces":                      {role: token.Deploy, what: "sending spans"},
	"GET /v1/incidents/{id}":               {role: token.Read},
	"GET /v1/incidents/{id}/postmortem":    {role: token.Read},
	"GET /v1/incidents/{id}/files/{name}":  {role: token.Read},
	"GET /v1/runbooks":                     {role: token.Read},
	"GET /v1/remediation":                  {role: token.Read},
	"GET /prometheus/":                     {role: token.Read},
	"POST /prometheus/":                    {role: token.Read}, // queries by POST (Grafana, promtool): the API writes nothing
	"GET /alertmanager/":                   {role: token.Read},
	"POST /v1/deploy":                      {role: token.Deploy, what: "deploying"},
	"DELETE /v1/apps/{app}":                {role: token.Deploy, what: "deleting an app"}, // purge=1 needs admin: the handler checks
	"POST /v1/apps/{app}/{action}":         {role: token.Deploy, what: "acting on an app (promote, abort, pause, resume, restart, scale, rollback, redeploy, maintenance)"},
	"PUT /v1/apps/{app}/secrets/{name}":    {role: token.Deploy, what: "setting a secret"},
	"DELETE /v1/apps/{app}/secrets/{name}": {role: token.Deploy, what: "removing a secret"},
	"GET /v1/uploads/{digest}":             {role: token.Deploy, what: "uploading a deploy's files"}, // whether the server has it: a deploy's first step
	"PUT /v1/uploads/{digest}":             {role: token.Deploy, what: "uploading a deploy's files"},
	"POST /v1/apps/{app}/secrets/reveal":   {role: token.Admin, what: "revealing secret values"},
	"POST /v1/secrets/rotate-key":          {role: token.Admin, what: "rotating the secrets key"},
	// incidents span apps, and their actions page people and stop escalations
	"POST /v1/incidents/alerts":        {role: token.Admin, what: "sending alert notifications"},
	"POST /v1/incidents/{id}/{action}": {role: token.Admin, what: "acknowledging, resolving or commenting on an incident"},
	"PUT /v1/remediation":              {role: token.Admin, what: "turning automated remediation on or off"},
	"POST /alertmanager/":              {role: token.Admin, what: "changing the Alertmanager's silences and alerts"},
	"DELETE /alertmanager/":            {role: token.Admin, what: "removing an Alertmanager silence"},
	"POST /v1/tokens":                  {role: token.Admin, what: "creating a token"},
	"GET /v1/tokens":                   {role: token.Admin, what: "listing tokens"},
	"DELETE /v1/tokens/{name}":         {role: token.Admin, what: "revoking a token"},
	"GET /v1/audit":                    {role: token.Admin, what: "reading the audit log"},
	// an archive of the state holds every app's specs and sealed secrets
	"POST /v1/backups/state":   {role: token.Admin, what: "archiving tend's state"},
	"GET /v1/backups":          {role: token.Read},
	"POST /v1/backups/run":     {role: token.Admin, what: "running a backup"},
	"POST /v1/backups/restore": {role: token.Admin, what: "restoring a backup"},
	"POST /v1/backups/verify":  {role: token.Admin, what: "running a restore drill"},
}

// ruleOf is what a call with method to the route the API's mux matched (its pattern)
// needs: the table's rule for the pattern, or for the method under a mount (HEAD as
// GET, as the mux has it), else admin.
func ruleOf(method, pattern string) rule {
	if r, ok := routeRoles[pattern]; ok {
		return r
	}
	mounted := method
	if mounted == http.MethodHead {
		mounted = http.MethodGet
	}
	if r, ok := routeRoles[mounted+" "+pattern]; ok {
		return r
	}
	return rule{role: token.Admin, what: method + " " + strings.TrimPrefix(pattern, method+" ")}
}

// call is one API call as the checks see it: the token it carries and the app it acts
// on. The request's context carries it to the handlers.
type call struct {
	who token.Token
	app string
	// failed is the error a stream that began with 200 ended with, and its status
	failed     string
	failedCode int
}

type callKey struct{}

// callOf is the call a request is, as auth recorded it.
func callOf(r *http.Request) (*call, bool) {
	c, ok := r.Context().Value(callKey{}).(*call)
	return c, ok
}

// streamFailed records, for the audit log, that the call's stream ended with err
// (with code the status it would have had before the stream began).
func streamFailed(r *http.Request, code int, err error) {
	if c, ok := callOf(r); ok {
		c.failed, c.failedCode = err.Error(), code
	}
}

// forbidden says why the call's token may not do what need says, and, for a route
// that acts on an app (scoped), on the call's app (nil: it may).
func (c *call) forbidden(need rule, scoped bool) error {
	if !c.who.Role.Allows(need.role) {
		return fmt.Errorf("token %q has role %s; %s needs role %s (tend token create NAME --role %s)", c.who.Name, c.who.Role, need.what, need.role, need.role)
	}
	if scoped && !c.who.MayTouch(c.app) {
		return fmt.Errorf("token %q may act on %s only, not on %q (tend token create NAME --role %s --apps %s)",
			c.who.Name, strings.Join(c.who.Apps, ", "), c.app, c.who.Role, c.app)
	}
	return nil
}

// mayDeploy says why the call's token may not deploy app (nil: it may), for the deploy
// handler, which learns the app from the spec in the body: POST /v1/deploy's role is
// checked before it runs, the app only here. It records app for the audit log. Its
// error is the answer 403 Forbidden.
func (s *server) mayDeploy(r *http.Request, app string) error {
	c, ok := callOf(r)
	if !ok {
		return errors.New("no token was checked for this deploy (a bug: report it)")
	}
	c.app = app
	return c.forbidden(routeRoles["POST /v1/deploy"], true)
}

// mayDeployFromDisk says why the call's token may not deploy from paths on the server's
// disk (a deploy without an upload, which reads and builds whatever the spec names
// there): only an admin token may.
func (s *server) mayDeployFromDisk(r *http.Request) error {
	c, ok := callOf(r)
	if !ok {
		return errors.New("no token was checked for this deploy (a bug: report it)")
	}
	return c.forbidden(rule{role: token.Admin, what: "deploying from paths on the server's disk (without an upload; tend deploy uploads)"}, false)
}

// isAdmin reports whether the call's token has role admin.
func isAdmin(r *http.Request) bool {
	c, ok := callOf(r)
	return ok && c.who.Role.Allows(token.Admin)
}

// visible reports whether the call's token may see app, for the lists of apps.
func visible(r *http.Request, app string) bool {
	c, ok := callOf(r)
	return ok && c.who.MayTouch(app)
}

// errNoToken is the answer to a call without a token the server knows.
var errNoToken = errors.New("missing or wrong API token: give this server's token (TEND_TOKEN, --token, a context, or the file token in the data dir the server runs on)")

// credential is the token a request carries: "Authorization: Bearer <token>", or HTTP
// basic auth with the token as the password (any user name), for tools that can only
// put credentials in a URL (promtool before 2.43: http://tend:TOKEN@host/prometheus).
func credential(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return v
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	return ""
}

// authenticate returns the token r carries: the data dir's (Options.Token, an admin
// token), or one of Options.Tokens. On an error the token has the name when it is
// known (an expired or revoked token).
func (s *server) authenticate(r *http.Request) (token.Token, error) {
	value := credential(r)
	if value == "" {
		return token.Token{}, errNoToken
	}
	if s.o.Token != "" && subtle.ConstantTimeCompare([]byte(value), []byte(s.o.Token)) == 1 {
		return token.Token{Name: token.FileName, Role: token.Admin}, nil
	}
	if s.o.Tokens == nil {
		return token.Token{}, errNoToken
	}
	t, err := s.o.Tokens.Check(r.Context(), value)
	if errors.Is(err, token.ErrUnknown) {
		return token.Token{}, errNoToken
	}
	return t, err
}

// unauthorized reports whether err is the token's fault (401), not the server's.
func unauthorized(err error) bool {
	var expired *token.ExpiredError
	var revoked *token.RevokedError
	return errors.Is(err, errNoToken) || errors.As(err, &expired) || errors.As(err, &revoked)
}

// auth lets through the calls whose token may make them, and records every call in
// the audit log. The mux's pattern for the request says the role it needs; the app of
// a route with {app} is read by routing the request through apps, a mux of the same
// /v1 patterns (a ServeMux gives path values only to the handler it calls).
func (s *server) auth(mux *http.ServeMux) http.Handler {
	apps := http.NewServeMux()
	for _, e := range s.endpoints {
		apps.HandleFunc(e.method+" "+e.path, func(_ http.ResponseWriter, r *http.Request) {
			if c, ok := callOf(r); ok {
				c.app = r.PathValue("app")
			}
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set(v1.VersionHeader, strconv.Itoa(v1.Version))
		_, pattern := mux.Handler(r)
		c := &call{}
		rec := &recorder{ResponseWriter: w}
		defer s.record(r, pattern, c, rec, start)

		who, err := s.authenticate(r)
		if err != nil {
			c.who.Name = who.Name
			if !unauthorized(err) {
				s.log.Error("check an API token", "err", err)
				writeError(rec, http.StatusInternalServerError, fmt.Errorf("check the API token: %w", err))
				return
			}
			rec.Header().Set("WWW-Authenticate", `Bearer realm="tend"`)
			writeError(rec, http.StatusUnauthorized, err)
			return
		}
		c.who = who
		r = r.WithContext(context.WithValue(r.Context(), callKey{}, c))
		scoped := strings.Contains(pattern, "{app}")
		if scoped {
			apps.ServeHTTP(nowhere{}, r)
		}
		// no pattern: no route, the mux answers 404 or 405 and nothing runs
		if pattern != "" {
			if err := c.forbidden(ruleOf(r.Method, pattern), scoped); err != nil {
				writeError(rec, http.StatusForbidden, err)
				return
			}
		}
		mux.ServeHTTP(rec, r)
	})
}

// nowhere is an answer that goes nowhere: the apps mux's, which answers nothing.
type nowhere struct{}

func (nowhere) Header() http.Header         { return http.Header{} }
func (nowhere) Write(b []byte) (int, error) { return len(b), nil }
func (nowhere) WriteHeader(int)             {}

// recorder keeps the status of an answer for the audit log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush and Unwrap let streams flush through the recorder, by http.Flusher or by
// http.ResponseController.
func (r *recorder) Flush()                      { _ = http.NewResponseController(r.ResponseWriter).Flush() }
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// record puts a call in the audit log (without Options.Tokens there is none).
func (s *server) record(r *http.Request, pattern string, c *call, rec *recorder, start time.Time) {
	if s.o.Tokens == nil {
		return
	}
	route := pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		route = path
	}
	if r.Method != http.MethodGet && r.URL.RawQuery != "" && route != "" {
		route += "?" + r.URL.RawQuery // what the call asked beyond its route: DELETE …?purge=1
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.o.Tokens.Record(token.Entry{At: start.UTC(), Token: c.who.Name, Role: c.who.Role, Method: r.Method, Route: route,
		App: c.app, Status: status, Duration: time.Since(start), Remote: r.RemoteAddr, Error: c.failed, ErrorCode: c.failedCode})
}

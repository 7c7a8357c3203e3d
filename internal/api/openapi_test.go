package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/backup"
	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/internal/logs"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/secret"
	"github.com/tendhq/tend/internal/store"
	"github.com/tendhq/tend/internal/trace"
)

// The OpenAPI description against the handlers: it is valid OpenAPI 3.1 (kin-openapi's
// validator), it has every route the mux serves and no other, and what a full server
// answers matches it, status, content type, headers and body.

// A stream's schema is each line's (OpenAPI 3.1 has no item schema): the decoder checks
// every line and hands the last one on, which ValidateResponse checks again.
func init() {
	openapi3filter.RegisterBodyDecoder(ndjson, func(r io.Reader, _ http.Header, s *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		var last any
		sc := bufio.NewScanner(r)
		for n := 1; sc.Scan(); n++ {
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if err := s.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				return nil, fmt.Errorf("line %d %s: %w", n, sc.Bytes(), err)
			}
			last = v
		}
		if last == nil {
			return nil, errors.New("an empty stream")
		}
		return last, sc.Err()
	})
}

// readyRuntime starts no process: every instance it is asked for is ready at once.
type readyRuntime struct {
	mu   sync.Mutex
	sets map[int]runtime.Set
}

func (f *readyRuntime) Apply(_ context.Context, s runtime.Set) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sets == nil {
		f.sets = map[int]runtime.Set{}
	}
	f.sets[s.Revision] = s
	return nil
}

func (f *readyRuntime) Instances(app string) []runtime.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Instance
	since := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) // longer than any minReady
	for rev, s := range f.sets {
		if app != "" && s.App != app {
			continue
		}
		for i := range s.Replicas {
			out = append(out, runtime.Instance{ID: fmt.Sprintf("%s-%d-%d", s.App, rev, i), App: s.App, Revision: rev,
				Addr: fmt.Sprintf("127.0.0.1:%d", 40000+i), State: runtime.Ready, StartedAt: since, ReadySince: since})
		}
	}
	return out
}

func (f *readyRuntime) Replace(context.Context, string, string) error { return nil }
func (f *readyRuntime) Subscribe() (<-chan string, func())            { return make(chan string), func() {} }
func (f *readyRuntime) Close(context.Context, bool) error             { return nil }

// echoBuilder compiles nothing: the artifact is the spec's build.binary.
type echoBuilder struct{}

func (echoBuilder) Build(_ context.Context, r build.Request, out io.Writer) (build.Artifact, error) {
	fmt.Fprintf(out, "building %s\n", r.Binary)
	return build.Artifact{Digest: "sha256:0d5f6c9e2b7a", Path: r.Binary, Version: "v1.2.0"}, nil
}

// fullOptions are a server with every part: a controller with hello deployed by the
// caller, incidents (with a runbook), a gateway, certificates and instance logs.
func fullOptions(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.LoadKeys(filepath.Join(dir, "data"), "")
	if err != nil {
		t.Fatal(err)
	}
	vault := secret.New(st, keys)
	c := controller.New(controller.Options{Store: st, Runtime: &readyRuntime{}, Builder: echoBuilder{}, Tick: 20 * time.Millisecond, Secrets: vault})
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })

	m := rollBackManager(t, ctx, st, dir)
	logFile := logs.Path(dir, "hello", "hello-1-0")
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logFile, []byte("{\"time\":\"2026-12-01T09:00:00Z\",\"msg\":\"listening\"}\nplain text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, routes := fixture(t)
	_, _, _, _, certs, _ := incidentFixture(t)
	spans := traceFixture(t)
	return Options{Controller: c, Token: "t", DataDir: dir, Version: "v1.2.3", Incidents: m, Secrets: vault,
		Traces: spans, OTLP: &trace.Receiver{Add: spans.Add}, Backups: listedBackups{},
		Gateway: func() []gateway.AppState { return routes },
		Certs:   func(context.Context) ([]store.Certificate, error) { return certs, nil }}
}

// checker sends requests to a server and validates them and their answers against the
// document the server serves.
type checker struct {
	t      *testing.T
	base   string
	doc    *openapi3.T
	router routers.Router
}

func newChecker(t *testing.T, srv *httptest.Server) *checker {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, b)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the document is not valid OpenAPI %s: %v", doc.OpenAPI, err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &checker{t: t, base: srv.URL, doc: doc, router: r}
}

// call sends method path with body (JSON, or none: ""), and validates the request and
// the answer; of a stream it reads the first lines only. It returns the answer's status
// and body.
func (c *checker) call(method, path, body string, lines int) (int, string) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s is not in the document: %v", method, path, err)
		return 0, ""
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		c.t.Errorf("%s %s: the request does not match the document: %v", method, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []byte
	if lines > 0 {
		br := bufio.NewReader(resp.Body)
		for range lines {
			line, err := br.ReadBytes('\n')
			got = append(got, line...)
			if err != nil {
				break
			}
		}
	} else if got, err = io.ReadAll(resp.Body); err != nil {
		c.t.Fatal(err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(got)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s %s: the answer does not match the document: %v\n%s", method, path, err, got)
	}
	return resp.StatusCode, string(got)
}

// Every answer a full server gives, the errors too, is what the document says.
func TestTheAnswersMatchTheDescription(t *testing.T) {
	srv := httptest.NewServer(Handler(fullOptions(t)))
	defer srv.Close()
	c := newChecker(t, srv)

	const spec = `{"file": "/srv/hello/tend.yaml", "source": "app: hello\nbuild: {binary: /bin/hello}\ninstances: 2\nstrategy:\n  blueGreen: {autoPromote: true}\n"}`
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := c.call("POST", "/v1/deploy", spec, 0)
		if strings.Contains(body, `"result"`) {
			break
		}
		if !strings.Contains(body, "starting") || time.Now().After(deadline) {
			t.Fatalf("deploy: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		code, body := c.call("GET", "/v1/apps/hello", "", 0)
		if code == 200 && strings.Contains(body, `"phase": "Completed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello did not complete its rollout: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// the Alertmanager's notification, in its own format; remediation off first, so
	// that the runbook is recorded as skipped, not run
	c.call("PUT", "/v1/remediation", `{"enabled": false, "by": "ana"}`, 0)
	if code, body := c.call("POST", "/v1/incidents/alerts", `{"version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
		"receiver": "tend-incidents", "groupLabels": {"alertname": "HighErrorRate"},
		"commonLabels": {"alertname": "HighErrorRate", "app": "hello", "severity": "critical"},
		"commonAnnotations": {"summary": "hello fails"},
		"alerts": [{"status": "firing", "fingerprint": "f1", "labels": {"alertname": "HighErrorRate", "app": "hello", "severity": "critical"},
			"startsAt": "2026-12-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}`, 0); code != http.StatusNoContent {
		t.Fatalf("POST /v1/incidents/alerts: %d %s", code, body)
	}

	for _, r := range []struct {
		method, path, body string
		code               int
		lines              int // of a stream: how many to read
	}{
		{"POST", "/v1/apps/hello/promote", `{"full": true}`, 409, 0},
		{"POST", "/v1/apps/hello/maintenance", `{"on": true, "message": "moving", "retryAfterSeconds": 60}`, 200, 0},
		{"GET", "/v1/version", "", 200, 0},
		{"GET", "/v1/apps", "", 200, 0},
		{"GET", "/v1/apps/hello", "", 200, 0},
		{"GET", "/v1/apps/hello/history?limit=5", "", 200, 0},
		{"GET", "/v1/apps/hello/watch", "", 200, 1},
		{"GET", "/v1/apps/hello/logs?tail=10", "", 200, 0},
		{"GET", "/v1/apps/hello/logs?instance=..", "", 404, 0},
		{"GET", "/v1/apps/hello/logs?instance=does-not-exist", "", 404, 0},
		{"GET", "/v1/apps/hello/logs?instance=hello-1-0", "", 200, 0},
		{"GET", "/v1/apps/hello/logs?all=1&revision=1&tail=-1&since=2026-12-01T08:00:00Z&until=1s&grep=listen", "", 200, 1},
		{"GET", "/v1/apps/hello/logs?grep=(", "", 400, 0},
		{"GET", "/v1/apps/hello/logs?since=yesterday", "", 400, 0},
		{"GET", "/v1/apps/hello/logs?level=loud", "", 400, 0},
		{"GET", "/v1/gateway", "", 200, 0},
		{"GET", "/v1/certs", "", 200, 0},
		{"GET", "/v1/incidents?all=1", "", 200, 0},
		{"GET", "/v1/incidents/1", "", 200, 0},
		{"GET", "/v1/incidents/1/postmortem", "", 200, 0},
		{"POST", "/v1/incidents/1/ack", `{"by": "bob", "text": "looking"}`, 200, 0},
		{"GET", "/v1/runbooks", "", 200, 0},
		{"GET", "/v1/traces?app=hello&since=1h&minDuration=1ms&status=error&limit=5&order=slowest", "", 200, 0},
		{"GET", "/v1/traces/" + fixtureTrace, "", 200, 0},
		{"GET", "/v1/traces/00000000000000000000000000000009", "", 404, 0},
		{"GET", "/v1/traces/nope", "", 400, 0},
		{"GET", "/v1/traces?minDuration=soon", "", 400, 0},
		{"GET", "/v1/remediation", "", 200, 0},
		{"GET", "/v1/openapi.json", "", 200, 0},
		{"PUT", "/v1/apps/hello/secrets/db-url", `{"value": "c2VjcmV0"}`, 200, 0},
		{"GET", "/v1/apps/hello/secrets", "", 200, 0},
		{"POST", "/v1/secrets/rotate-key", "", 200, 0},
		{"POST", "/v1/apps/hello/redeploy", "", 200, 0},
		{"DELETE", "/v1/apps/hello/secrets/db-url", "", 204, 0},
		{"DELETE", "/v1/apps/hello/secrets/db-url", "", 404, 0},
		{"PUT", "/v1/apps/hello/secrets/bad%2Fname", `{"value": ""}`, 400, 0},
		// errors: their bodies are v1.ErrorBody
		{"GET", "/v1/apps/nope", "", 404, 0},
		{"GET", "/v1/apps/nope/watch", "", 404, 0},
		{"GET", "/v1/incidents/7", "", 404, 0},
		{"GET", "/v1/incidents/1/files/cpu.pprof", "", 404, 0},
		{"POST", "/v1/incidents/1/comment", "", 422, 0}, // a comment needs its text
	} {
		if code, body := c.call(r.method, r.path, r.body, r.lines); code != r.code {
			t.Errorf("%s %s: %d %s, want %d", r.method, r.path, code, body, r.code)
		}
	}
}

// The document would catch a handler that sends a field its type's schema lacks, or
// leaves out one it requires: the v1 object schemas allow no other property.
func TestTheDescriptionRefusesUndocumentedFields(t *testing.T) {
	srv := httptest.NewServer(Handler(fullOptions(t)))
	defer srv.Close()
	c := newChecker(t, srv)
	for name, ref := range c.doc.Components.Schemas {
		s := ref.Value
		if s.Type.Is("object") && s.Properties != nil && (s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has) {
			t.Errorf("schema %s allows properties it does not list", name)
		}
	}
	st, h, routes := fixture(t)
	for _, v := range []struct {
		schema string
		value  any
	}{{"App", wireApp(st)}, {"History", wireHistory(h)}, {"Route", wireRoutes(routes)[0]}} {
		schema := c.doc.Components.Schemas[v.schema].Value
		b, _ := json.Marshal(v.value)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: the golden body does not match: %v", v.schema, err)
		}
		extra := maps.Clone(body)
		extra["undocumented"] = 1
		if schema.VisitJSON(extra, openapi3.EnableJSONSchema2020()) == nil {
			t.Errorf("%s: a body with an undocumented field passes", v.schema)
		}
		for _, field := range schema.Required {
			less := maps.Clone(body)
			delete(less, field)
			if schema.VisitJSON(less, openapi3.EnableJSONSchema2020()) == nil {
				t.Errorf("%s: a body without %s passes", v.schema, field)
			}
		}
	}
}

// fill puts a value in each {parameter} of a path.
func fill(path string) string { return pathParam.ReplaceAllString(path, "p1") }

// The document has every route the mux serves, and the mux every route the document has.
func TestTheDescriptionHasEveryRouteAndNoOther(t *testing.T) {
	o := fullOptions(t)
	s := &server{o: o, c: o.Controller, log: o.Logger}
	mux := s.routes()
	doc, err := openAPI(s.endpoints)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	loaded, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	var registered, documented []string
	for _, e := range s.endpoints {
		registered = append(registered, e.method+" "+e.path)
	}
	for path, item := range loaded.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(registered)
	slices.Sort(documented)
	if !slices.Equal(registered, documented) {
		t.Errorf("registered routes:\n%s\ndocumented operations:\n%s", strings.Join(registered, "\n"), strings.Join(documented, "\n"))
	}
	if len(registered) < 20 {
		t.Errorf("%d routes, want the 20 of /v1 at least: %s", len(registered), registered)
	}
	// the mux serves each documented operation with that route's handler, and none
	// other at its path but another documented operation's
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		if _, pattern := mux.Handler(httptest.NewRequest(method, fill(path), nil)); pattern != op {
			t.Errorf("%s %s: the mux serves %q", method, fill(path), pattern)
		}
		for _, other := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			_, pattern := mux.Handler(httptest.NewRequest(other, fill(path), nil))
			if pattern != "" && !slices.Contains(documented, pattern) {
				t.Errorf("%s %s: the mux serves %q, which is not documented", other, fill(path), pattern)
			}
		}
	}
	// the enum of POST /v1/apps/{app}/{action} is what the handler takes, and says it takes
	var actions []string
	for _, a := range loaded.Paths.Find("/v1/apps/{app}/{action}").Post.Parameters.GetByInAndName("path", "action").Schema.Value.Enum {
		actions = append(actions, a.(string))
	}
	srv := httptest.NewServer(Handler(o))
	defer srv.Close()
	for _, a := range append(actions, "snooze") {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/apps/nope/"+a, nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if unknown := strings.Contains(string(b), "unknown action"); unknown != (a == "snooze") {
			t.Errorf("POST /v1/apps/nope/%s: %d %s", a, resp.StatusCode, b)
		}
		if a == "snooze" && !strings.Contains(string(b), "want one of "+strings.Join(actions, ", ")+`"`) {
			t.Errorf("the handler takes other actions than the document's %q: %s", actions, b)
		}
	}
}

// The generator's rules, on a type of its own: names are the JSON tags', omitempty and
// omitzero make a field optional, a pointer that is not left out may be null.
func TestSchemasFollowEncodingJSON(t *testing.T) {
	type sample struct {
		Name     string                `json:"name"`
		Count    int                   `json:"count,omitempty"`
		At       time.Time             `json:"at,omitzero"`
		Score    *float64              `json:"score"`
		Maybe    *v1.Maintenance       `json:"maybe,omitempty"`
		Phases   map[string][]v1.Phase `json:"phases"`
		Wait     v1.Duration           `json:"wait"`
		Severity v1.Severity           `json:"severity"`
		Any      any                   `json:"any"`
		Skipped  string                `json:"-"`
		hidden   int
		NoTag    bool
	}
	g := &generator{schemas: map[string]any{}, named: map[string]reflect.Type{}}
	s, err := g.object(reflect.TypeFor[sample]())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s)
	want := `{"additionalProperties":false,"properties":{` +
		`"NoTag":{"type":"boolean"},"any":{},"at":{"format":"date-time","type":"string"},"count":{"type":"integer"},` +
		`"maybe":{"$ref":"#/components/schemas/Maintenance"},"name":{"type":"string"},` +
		`"phases":{"additionalProperties":{"items":{"$ref":"#/components/schemas/Phase"},"type":"array"},"type":"object"},` +
		`"score":{"anyOf":[{"type":"number"},{"type":"null"}]},"severity":{"$ref":"#/components/schemas/Severity"},` +
		`"wait":{"$ref":"#/components/schemas/Duration"}},` +
		`"required":["name","score","phases","wait","severity","any","NoTag"],"type":"object"}`
	if string(got) != want {
		t.Errorf("schema:\n%s\nwant\n%s", got, want)
	}
	phase, _ := json.Marshal(g.schemas["Phase"])
	if !strings.Contains(string(phase), `"enum":["Progressing","Paused","Completed","Reverting","RolledBack","Aborted","Failed"]`) ||
		!strings.Contains(string(phase), "- `Paused`: waiting") {
		t.Errorf("Phase: %s", phase)
	}
	if sev := g.schemas["Severity"].(schema); sev["enum"] != nil || sev["examples"] == nil {
		t.Errorf("Severity is an open enum, its known values are examples: %v", sev)
	}
	wait := g.schemas["Duration"].(schema)
	for _, d := range []time.Duration{0, 30 * time.Second, 90 * time.Second, 1500 * time.Millisecond, time.Microsecond, -time.Hour} {
		if !regexp.MustCompile(wait["pattern"].(string)).MatchString(d.String()) {
			t.Errorf("the Duration pattern refuses %q", d)
		}
	}
	if b, err := g.schemaOf(reflect.TypeFor[[]byte]()); err != nil || b["contentEncoding"] != "base64" {
		t.Errorf("[]byte: %v %v, want a base64 string", b, err)
	}
	type plain string
	for _, bad := range []reflect.Type{reflect.TypeFor[struct{ C chan int }](), reflect.TypeFor[struct{ P plain }](),
		reflect.TypeFor[struct{ R json.RawMessage }](), reflect.TypeFor[struct{ v1.Warm }]()} {
		if _, err := g.schemaOf(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// listedBackups has tend's state backup with one archive, and runs none.
type listedBackups struct{}

func (listedBackups) WriteState(_ context.Context, w io.Writer, _ bool) (*backup.Manifest, error) {
	_, err := w.Write([]byte("archive"))
	return &backup.Manifest{}, err
}

func (listedBackups) List(context.Context, string) ([]v1.Backup, error) {
	at := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	return []v1.Backup{{Name: "state", Kind: "state", Schedule: "@daily", Target: "/var/lib/tend/backups",
		Archives: []v1.BackupArchive{{Name: "tend-state-20261203T030000Z.tar.zst", Time: at, Size: 1 << 20, SHA256: strings.Repeat("a", 64), Seconds: 0.4}}}}, nil
}

func (listedBackups) Run(_ context.Context, app, name string) (backup.Object, error) {
	return backup.Object{}, fmt.Errorf("%w: %s/%s", ErrNoBackup, app, name)
}

func (listedBackups) Restore(_ context.Context, app, name, _, _ string) (backup.Restored, error) {
	return backup.Restored{}, fmt.Errorf("%w: %s/%s", ErrNoBackup, app, name)
}

func (listedBackups) Verify(_ context.Context, app, name, _ string) (store.BackupVerify, error) {
	return store.BackupVerify{}, fmt.Errorf("%w: %s/%s", ErrNoBackup, app, name)
}

package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"go.uber.org/goleak"
)

// webhook records the Alertmanager payloads it receives.
type webhook struct {
	mu       sync.Mutex
	payloads []map[string]any
	auth     []string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p map[string]any
	_ = json.NewDecoder(r.Body).Decode(&p)
	h.mu.Lock()
	h.payloads = append(h.payloads, p)
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
}

func (h *webhook) got() ([]map[string]any, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.payloads...), append([]string(nil), h.auth...)
}

// inbox takes what the embedded Alertmanager hands to the incident manager.
type inbox struct {
	ch   chan Notification
	mu   sync.Mutex
	msgs []Group
}

func newInbox(t *testing.T) *inbox {
	in := &inbox{ch: make(chan Notification)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case n := <-in.ch:
				in.mu.Lock()
				in.msgs = append(in.msgs, n.Group)
				in.mu.Unlock()
				n.Done <- nil
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return in
}

func (in *inbox) got() []Group {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Group(nil), in.msgs...)
}

func openTestAlerting(t *testing.T, rules, amConfig string, incidents chan<- Notification) *Alerting {
	t.Helper()
	dir := t.TempDir()
	db, err := tsdb.Open(filepath.Join(dir, "metrics"), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	rf := filepath.Join(dir, "rules.yml")
	cf := filepath.Join(dir, "am.yml")
	for f, s := range map[string]string{rf: rules, cf: amConfig} {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := Open(Options{Dir: filepath.Join(dir, "alerting"), RuleFiles: []string{rf}, Interval: 200 * time.Millisecond,
		ConfigFile: cf, APIURL: "http://127.0.0.1:7070", Incidents: incidents, Storage: db, Engine: engine, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(t.Context())
	t.Cleanup(a.Close)
	return a
}

func TestRuleFiresThroughAlertmanagerToWebhookAndIncidents(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	user, tend := &webhook{}, newInbox(t)
	userSrv := httptest.NewServer(user)
	defer userSrv.Close()
	rules := "groups:\n- name: g\n  rules:\n  - alert: AlwaysOn\n    expr: vector(1)\n    labels: {severity: critical, app: hello}\n    annotations: {summary: always}\n"
	am := fmt.Sprintf("route:\n  receiver: user\n  group_by: [alertname]\n  group_wait: 100ms\nreceivers:\n- name: user\n  webhook_configs:\n  - url: %s/hook\n", userSrv.URL)
	a := openTestAlerting(t, rules, am, tend.ch)

	deadline := time.Now().Add(20 * time.Second)
	for {
		u, _ := user.got()
		i := tend.got()
		if len(u) > 0 && len(i) > 0 {
			if u[0]["version"] != "4" || u[0]["status"] != "firing" || u[0]["receiver"] != "user" {
				t.Fatalf("user webhook payload: %v", u[0])
			}
			alerts := u[0]["alerts"].([]any)
			labels := alerts[0].(map[string]any)["labels"].(map[string]any)
			if labels["alertname"] != "AlwaysOn" || labels["app"] != "hello" {
				t.Fatalf("alert labels: %v", labels)
			}
			if i[0].Receiver != IncidentReceiver || i[0].Status != "firing" || i[0].Key == "" || len(i[0].Alerts) != 1 || i[0].Alerts[0].Labels["alertname"] != "AlwaysOn" {
				t.Fatalf("the incident manager got %+v", i[0])
			}
			// what incidents ask to find alerts that ended unseen
			fp := alerts[0].(map[string]any)["fingerprint"].(string)
			if firing, ok := a.Firing(fp); !firing || !ok {
				t.Fatalf("Firing(%s) = %v, %v; want true, true", fp, firing, ok)
			}
			if firing, ok := a.Firing("0123456789abcdef"); firing || !ok {
				t.Fatalf("Firing of an unknown alert = %v, %v; want false, true", firing, ok)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification in 20s: user %d, incidents %d", len(u), len(i))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// the API v2 lists the alert and takes a silence, as amtool does
	h := a.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/api/v2/alerts", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"alertname":"AlwaysOn"`) {
		t.Fatalf("GET alerts: %d %s", rec.Code, rec.Body)
	}
	sil := fmt.Sprintf(`{"matchers":[{"name":"alertname","value":"AlwaysOn","isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"test","comment":"quiet"}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("POST", Prefix+"/api/v2/silences", bytes.NewBufferString(sil))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		body, _ := io.ReadAll(rec.Body)
		t.Fatalf("POST silence: %d %s", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/api/v2/alerts?silenced=true&active=false", nil))
	if !strings.Contains(rec.Body.String(), `"state":"suppressed"`) {
		t.Fatalf("the alert is not suppressed after the silence: %s", rec.Body)
	}
}

func TestAppRulesAreLabelledAndBuiltinRulesSkipExcludedApps(t *testing.T) {
	b, err := builtinExcept([]string{"shop", "a.b"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "b.yml")
	os.WriteFile(f, b, 0o600)
	if err := checkRuleFiles([]string{f}); err != nil {
		t.Fatalf("the built-in rules with exclusions do not load: %v\n%s", err, b)
	}
	// every series selector of every rule; GatewayDown's and the certificates' series
	// have no app label, which the matcher lets through (and tend's state backup's)
	if n := strings.Count(string(b), `app!~"a\\.b|shop"`); n != 16 {
		t.Fatalf("%d selectors exclude the apps, want 16:\n%s", n, b)
	}
	l, err := labelApp([]byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n  - alert: B\n    expr: vector(1)\n    labels: {app: other}\n  - record: r\n    expr: vector(1)\n"), "shop")
	if err != nil {
		t.Fatal(err)
	}
	// B's own app label is overwritten: an app's rules cannot page about another app
	if err := CheckRules("labelled", l); err != nil || strings.Count(string(l), "app: shop") != 2 || strings.Contains(string(l), "other") {
		t.Fatalf("labelled rules (%v):\n%s", err, l)
	}
}

func TestAnAppsRulesAreLoadedWhenItsSpecBringsThem(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	user, tend := &webhook{}, &webhook{}
	userSrv, tendSrv := httptest.NewServer(user), httptest.NewServer(tend)
	defer userSrv.Close()
	defer tendSrv.Close()
	var mu sync.Mutex
	var apps []AppRules
	dir := t.TempDir()
	db, err := tsdb.Open(filepath.Join(dir, "metrics"), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cf := filepath.Join(dir, "am.yml")
	os.WriteFile(cf, []byte(fmt.Sprintf("route:\n  receiver: user\n  group_wait: 100ms\nreceivers:\n- name: user\n  webhook_configs:\n  - url: %s/hook\n", userSrv.URL)), 0o600)
	a, err := Open(Options{Dir: filepath.Join(dir, "alerting"), Interval: 200 * time.Millisecond, ConfigFile: cf, APIURL: tendSrv.URL,
		Storage: db, Engine: promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}),
		Registerer: prometheus.NewRegistry(),
		Apps: func(context.Context) ([]AppRules, error) {
			mu.Lock()
			defer mu.Unlock()
			return apps, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(t.Context())
	defer a.Close()
	time.Sleep(500 * time.Millisecond)
	if u, _ := user.got(); len(u) != 0 {
		t.Fatalf("an alert before any app brought rules: %v", u[0])
	}
	mu.Lock()
	apps = []AppRules{{App: "shop", Files: [][]byte{[]byte("groups:\n- name: shop\n  rules:\n  - alert: ShopDown\n    expr: vector(1)\n")}}}
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, _ := user.got()
		if len(u) > 0 {
			labels := u[0]["commonLabels"].(map[string]any)
			if labels["alertname"] != "ShopDown" || labels["app"] != "shop" {
				t.Fatalf("labels: %v", labels)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app's rule never fired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/tendhq/tend/test/harness"
)

// bearer adds tend's token to every request of a Prometheus API client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestPrometheusFederatesTendAndReadsItsRules: Debian's Prometheus server scrapes
// /prometheus/federate with the token and answers a query as tend does; the Prometheus
// API client Grafana-like tools use (client_golang's api/prometheus/v1) reads tend's
// rules and alerts. (promtool has no command that reads /api/v1/rules: its query
// commands cover instant, range, series, labels.)
func TestPrometheusFederatesTendAndReadsItsRules(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed: apt-get install prometheus (.ci/run does)")
	}
	rules := writeFile(t, "rules.yaml", alwaysFiring("0s", [2]string{"Federated", "warning"}))
	s := startServer(t, t.TempDir(), "--rules", rules, "--builtin-rules=false")
	raw, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	ctx := context.Background()
	client := func(base string) promv1.API {
		c, err := api.NewClient(api.Config{Address: base, RoundTripper: bearer{token}})
		if err != nil {
			t.Fatal(err)
		}
		return promv1.NewAPI(c)
	}
	tend := client("http://" + s.API + "/prometheus")

	// the rules manager's groups, rules and active alerts, as Prometheus lists its own
	var rs promv1.RulesResult
	var alerts promv1.AlertsResult
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		rs, err = tend.Rules(ctx, nil)
		if err == nil {
			alerts, err = tend.Alerts(ctx)
		}
		if err == nil && len(alerts.Alerts) == 1 && alerts.Alerts[0].State == promv1.AlertStateFiring {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tend's /api/v1/alerts within 20s: %v %+v, want the Federated alert firing", err, alerts)
		}
	}
	if len(rs.Groups) != 1 || rs.Groups[0].Name != "test" || len(rs.Groups[0].Rules) != 1 {
		t.Fatalf("/api/v1/rules: %+v, want group test with one rule", rs)
	}
	rule, ok := rs.Groups[0].Rules[0].(promv1.AlertingRule)
	if !ok || rule.Name != "Federated" || rule.Query != "vector(1)" || rule.Health != promv1.RuleHealthGood ||
		rule.State != "firing" || len(rule.Alerts) != 1 || rule.Labels["severity"] != "warning" {
		t.Fatalf("the rule as /api/v1/rules lists it: %+v", rs.Groups[0].Rules[0])
	}
	if a := alerts.Alerts[0]; a.Labels["alertname"] != "Federated" || a.Annotations["summary"] != "Federated is on" {
		t.Fatalf("/api/v1/alerts: %+v", a)
	}
	// status pages Grafana and promtool's debug read
	for _, p := range []string{"config", "flags", "runtimeinfo", "tsdb"} {
		var body struct {
			Status string         `json:"status"`
			Data   map[string]any `json:"data"`
		}
		if err := getWithToken(fmt.Sprintf("http://%s/prometheus/api/v1/status/%s", s.API, p), token, &body); err != nil || body.Status != "success" || len(body.Data) == 0 {
			t.Fatalf("/api/v1/status/%s: %v %+v", p, err, body)
		}
	}
	if _, err := tend.TSDB(ctx); err != nil {
		t.Fatalf("client_golang's TSDB(): %v", err)
	}

	// Prometheus scrapes tend's TSDB through /federate, with the token
	promAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "prometheus.yml", fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
- job_name: federate
  honor_labels: true
  metrics_path: /prometheus/federate
  params: {'match[]': ['{job="tend"}', 'ALERTS']}
  authorization: {credentials: %s}
  static_configs: [{targets: ['%s']}]
`, token, s.API))
	startProgram(t, "prometheus", exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(), "--web.listen-address="+promAddr))
	promAPI := client("http://" + promAddr)
	const q = `process_start_time_seconds{job="tend"}`
	var theirs model.Value
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		theirs, _, _, err = promAPI.Query(ctx, q, time.Now())
		if err == nil && len(theirs.(model.Vector)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			targets, _ := promAPI.Targets(ctx)
			t.Fatalf("Prometheus' %s after 30s: %v %v; its targets: %+v", q, err, theirs, targets.Active)
		}
	}
	ours, _, _, err := tend.Query(ctx, q, time.Now())
	if err != nil || len(ours.(model.Vector)) != 1 {
		t.Fatalf("tend's %s: %v %v", q, err, ours)
	}
	a, b := theirs.(model.Vector)[0], ours.(model.Vector)[0]
	delete(a.Metric, model.InstanceLabel) // Prometheus adds its target's to a series without one
	if a.Value != b.Value || !a.Metric.Equal(b.Metric) {
		t.Fatalf("Prometheus says %v, tend says %v: want the same series and value", a, b)
	}
	// the firing alert's series comes across too
	v, _, _, err := promAPI.Query(ctx, `ALERTS{alertname="Federated",alertstate="firing"}`, time.Now())
	if err != nil || len(v.(model.Vector)) != 1 {
		t.Fatalf("Prometheus' ALERTS from tend: %v %v", err, v)
	}

	// without the token, the scrape is refused: Prometheus' target goes down
	resp, err := http.Get("http://" + s.API + "/prometheus/federate?" + url.Values{"match[]": {"up"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/federate without the token: %s, want 401", resp.Status)
	}
}

// startProgram starts a program nobody here wrote and kills it when the test ends,
// logging its output when the test failed.
func startProgram(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	var out harness.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, out.String())
		}
	})
}

// getWithToken decodes the JSON body of a GET with tend's token.
func getWithToken(u, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Command alerting measures tend's alerting loop with its shipped defaults: a revision
// whose requests fail half the time is deployed without analysis under steady load; the
// built-in HighErrorRate alert reaches a webhook receiver through the embedded
// Alertmanager, the incident's runbook rolls the app back, and the incident resolves.
// It reports, from the first failed request, the time to the page, to the rollback and
// to the resolved incident, and how many requests failed meanwhile.
//
//	go run ./bench/alerting -runs 10
//
// It prints Markdown; bench/run.sh puts it in docs/BENCHMARKS.md. The exit code is 1 when
// a run did not page, roll back or resolve within its time limit.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/test/harness"
)

func main() {
	runs := flag.Int("runs", 10, "faulty revisions to deploy, one after another")
	rps := flag.Int("rps", 100, "steady request rate through the gateway")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	failed, err := run(os.Stdout, log, *root, *runs, *rps)
	if err != nil {
		log.Error("alerting bench", "err", err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// pages records when the webhook receiver got a firing HighErrorRate notification.
type pages struct {
	mu    sync.Mutex
	times []time.Time
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg incident.Message
	_ = json.NewDecoder(r.Body).Decode(&msg)
	if msg.Status == "firing" && msg.CommonLabels["alertname"] == "HighErrorRate" {
		p.mu.Lock()
		p.times = append(p.times, time.Now())
		p.mu.Unlock()
	}
}

func (p *pages) after(t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, at := range p.times {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// trial is one faulty revision and what came of it, from its first failed request.
type trial struct {
	page, rollback, resolved time.Duration
	requests, failed         int64
	ok                       bool
}

func run(w io.Writer, log *slog.Logger, root string, runs, rps int) (int, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	hook := &pages{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	am := filepath.Join(ws.Dir, "alertmanager.yml")
	// tend's default route timings, with a webhook receiver
	if err := os.WriteFile(am, []byte(fmt.Sprintf("route:\n  receiver: oncall\n  group_by: [alertname, app]\n  group_wait: 3s\n  group_interval: 10s\n  repeat_interval: 4h\nreceivers:\n- name: oncall\n  webhook_configs:\n  - url: %s/hook\n", srv.URL)), 0o600); err != nil {
		return 0, err
	}
	inc := filepath.Join(ws.Dir, "incidents.yml")
	// one rollback per run: the bench lifts the default hourly limit and cooldown
	if err := os.WriteFile(inc, []byte("remediation: {actionsPerHour: 1000, cooldown: 1s}\nrunbooks:\n- name: roll back on high error rate\n  match: {alertname: HighErrorRate}\n  steps:\n  - rollback: {}\n"), 0o600); err != nil {
		return 0, err
	}
	s, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: filepath.Join(ws.Dir, "data"), Args: []string{"--alertmanager-config", am, "--incidents", inc}})
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	spec := filepath.Join(ws.Dir, "tend.yaml")
	deploy := func(env string) error {
		body := strings.Replace(harness.HelloSpec(ws.Hello, 3, "x", harness.Rolling), `env: {RELEASE: "x"}`, "env: {"+env+"}", 1)
		if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
			return err
		}
		out, err := s.Tend("deploy", "-f", spec)
		if err != nil {
			return fmt.Errorf("tend deploy: %w\n%s", err, out)
		}
		return nil
	}
	if err := deploy(`RELEASE: "good"`); err != nil {
		return 0, err
	}
	var trials []trial
	for i := 0; i < runs; i++ {
		st, err := s.Status("hello")
		if err != nil {
			return 0, err
		}
		good := st.Rollout.Stable
		p := newProber(s, rps)
		time.Sleep(2 * time.Second)
		if err := deploy(fmt.Sprintf(`RELEASE: "bad-%d", FAULT_ERROR_RATE: "0.5"`, i)); err != nil {
			p.stop()
			return 0, err
		}
		t := trial{}
		first := p.firstFailure(30 * time.Second)
		deadline := first.Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if t.page == 0 {
				if at, ok := hook.after(first); ok {
					t.page = at.Sub(first)
				}
			}
			if t.rollback == 0 {
				if st, err := s.Status("hello"); err == nil && st.Rollout.Stable == good && st.Rollout.Phase.Terminal() {
					t.rollback = time.Since(first)
				}
			}
			if t.resolved == 0 && t.rollback != 0 {
				if in, ok := lastIncident(s); ok && in.Status == v1.IncidentResolved && in.CreatedAt.After(first) {
					t.resolved = in.ResolvedAt.Sub(first)
				}
			}
			if t.page != 0 && t.rollback != 0 && t.resolved != 0 {
				t.ok = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.requests, t.failed = p.stop()
		trials = append(trials, t)
		log.Info("trial", "run", i, "page", t.page.String(), "rollback", t.rollback.String(), "resolved", t.resolved.String(), "failed", t.failed, "of", t.requests)
		if !t.ok {
			break
		}
	}
	return report(w, trials, rps), nil
}

func lastIncident(s *harness.Server) (v1.Incident, bool) {
	out, err := s.Tend("incidents", "--all", "-o", "json")
	if err != nil {
		return v1.Incident{}, false
	}
	var list []v1.Incident
	if json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 {
		return v1.Incident{}, false
	}
	return list[0], true
}

func report(w io.Writer, trials []trial, rps int) int {
	bad := 0
	var page, rollback, resolved []time.Duration
	var req, failed int64
	for _, t := range trials {
		if !t.ok {
			bad++
			continue
		}
		page, rollback, resolved = append(page, t.page), append(rollback, t.rollback), append(resolved, t.resolved)
		req += t.requests
		failed += t.failed
	}
	fmt.Fprintf(w, "A revision answering 500 to half its requests (FAULT_ERROR_RATE=0.5) is deployed with a rolling update and no analysis, under %d req/s; defaults: rules every 2s, built-in HighErrorRate (> 5%% over 30s, `for: 10s`), Alertmanager `group_wait: 3s` to a webhook receiver; the incident's runbook is one `rollback` step. %d of %d runs paged, rolled back and resolved.\n\n", rps, len(page), len(trials))
	fmt.Fprintln(w, "| from the first failed request to | min | p50 | p90 | max | every run |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
	fmt.Fprintf(w, "| the page at the webhook receiver | %s |\n", harness.Dist(page))
	fmt.Fprintf(w, "| the rollback done (revision before serves) | %s |\n", harness.Dist(rollback))
	fmt.Fprintf(w, "| the incident resolved | %s |\n", harness.Dist(resolved))
	fmt.Fprintf(w, "\nRequests during the runs: %d, failed %d (%.1f%%).\n", req, failed, 100*float64(failed)/float64(max(req, 1)))
	return bad
}

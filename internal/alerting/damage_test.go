package alerting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

// stateDir opens alerting on DATA/alerting in a temporary data dir, with one rule that
// always fires and a webhook receiver; open can be called again after Close.
type stateDir struct {
	t    *testing.T
	dir  string // DATA/alerting
	db   *tsdb.DB
	conf string
	url  string
}

func newStateDir(t *testing.T, hook string) *stateDir {
	t.Helper()
	data := t.TempDir()
	db, err := tsdb.Open(filepath.Join(data, "metrics"), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conf := filepath.Join(data, "am.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "route:\n  receiver: user\n  group_wait: 50ms\nreceivers:\n- name: user\n  webhook_configs:\n  - url: %s/hook\n", hook), 0o600); err != nil {
		t.Fatal(err)
	}
	return &stateDir{t: t, dir: filepath.Join(data, "alerting"), db: db, conf: conf, url: hook}
}

func (s *stateDir) open(log *slog.Logger) (*Alerting, error) {
	rules := filepath.Join(filepath.Dir(s.dir), "rules.yml")
	if err := os.WriteFile(rules, []byte("groups:\n- name: g\n  rules:\n  - alert: AlwaysOn\n    expr: vector(1)\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return Open(Options{Dir: s.dir, RuleFiles: []string{rules}, Interval: 100 * time.Millisecond, ConfigFile: s.conf, APIURL: s.url,
		Storage: s.db, Engine: promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}),
		Registerer: prometheus.NewRegistry(), Logger: log})
}

// silences lists the silences' comments through the API.
func silences(t *testing.T, a *Alerting) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/api/v2/silences", nil))
	var list []struct {
		Comment string `json:"comment"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatalf("GET silences: %d %s", rec.Code, rec.Body)
	}
	var out []string
	for _, s := range list {
		out = append(out, s.Comment)
	}
	return out
}

// healthy writes the state of an Alertmanager that notified hook once and took two
// silences, and stopped: DATA/alerting/alertmanager/{nflog,silences}.
func (s *stateDir) healthy(hook *webhook) {
	t := s.t
	t.Helper()
	a, err := s.open(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(t.Context())
	for _, c := range []string{"planned maintenance", "known slow"} {
		sil := fmt.Sprintf(`{"matchers":[{"name":"alertname","value":"Other","isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"ops","comment":%q}`,
			time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339), c)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", Prefix+"/api/v2/silences", strings.NewReader(sil))
		req.Header.Set("Content-Type", "application/json")
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("POST silence: %d %s", rec.Code, rec.Body)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, _ := hook.got(); len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no notification in 5s")
		}
	}
	time.Sleep(100 * time.Millisecond) // the notification log records it once the webhook answered
	a.Close()
	for _, f := range []string{"silences", "nflog"} {
		if st, err := os.Stat(filepath.Join(s.dir, "alertmanager", f)); err != nil || st.Size() == 0 {
			t.Fatalf("a stopped Alertmanager left no %s, or an empty one: %v", f, err)
		}
	}
}

func garble(t *testing.T, f string) {
	t.Helper()
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(raw) && i < 8; i++ {
		raw[i] ^= 0xff
	}
	if err := os.WriteFile(f, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func cutInHalf(t *testing.T, f string) {
	t.Helper()
	st, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// stateDamages are the ways the tests damage a state file (nil: none).
var stateDamages = []struct {
	name   string
	damage func(t *testing.T, f string)
}{{"no damage", nil}, {"garbled", garble}, {"cut in half", cutInHalf}}

// healthyStateDir is an alerting dir whose state files hold a notification and
// silences, written by an alerting that ran and stopped.
func healthyStateDir(t *testing.T) *stateDir {
	t.Helper()
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	s := newStateDir(t, srv.URL)
	s.healthy(hook)
	return s
}

// Damaged silences stop alerting from starting with an error that names the file and
// the way out, and leave the file as it is; moving it aside, as the error says, starts
// alerting without silences. Healthy silences come back after a restart.
func TestDamagedSilencesStopTheStartAndSayWhatToDo(t *testing.T) {
	for _, d := range stateDamages {
		t.Run(d.name, func(t *testing.T) {
			s := healthyStateDir(t)
			file := filepath.Join(s.dir, "alertmanager", "silences")
			if d.damage == nil {
				a, err := s.open(slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				if got := silences(t, a); len(got) != 2 {
					t.Fatalf("silences after a restart: %q, want the 2 taken", got)
				}
				return
			}
			d.damage(t, file)
			before, _ := os.ReadFile(file)
			a, err := s.open(slog.New(slog.DiscardHandler))
			if err == nil {
				a.Close()
			}
			var de *DamagedError
			if !errors.As(err, &de) || de.File != file {
				t.Fatalf("Open: %v, want a DamagedError naming %s", err, file)
			}
			for _, want := range []string{"restore " + file, "mv " + file + " " + file + ".damaged", "silence"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			t.Log(err)
			if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
				t.Errorf("the damaged silences file was changed")
			}
			if err := os.Rename(file, file+".damaged"); err != nil {
				t.Fatal(err)
			}
			a, err = s.open(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("Open after moving the silences aside: %v", err)
			}
			defer a.Close()
			if got := silences(t, a); len(got) != 0 {
				t.Errorf("silences after moving the file aside: %q, want none", got)
			}
		})
	}
}

// A damaged notification log is moved aside with a warning that names it and its copy;
// alerting starts, with its silences, and writes a new log at stop.
func TestADamagedNotificationLogIsMovedAsideAndAlertingStarts(t *testing.T) {
	for _, d := range stateDamages {
		t.Run(d.name, func(t *testing.T) {
			s := healthyStateDir(t)
			file := filepath.Join(s.dir, "alertmanager", "nflog")
			if d.damage != nil {
				d.damage(t, file)
			}
			damaged, _ := os.ReadFile(file)
			var log bytes.Buffer
			a, err := s.open(slog.New(slog.NewJSONHandler(&log, nil)))
			if err != nil {
				t.Fatalf("Open with a damaged notification log: %v, want it to start", err)
			}
			if got := silences(t, a); len(got) != 2 {
				t.Errorf("silences: %q, want the 2 taken", got)
			}
			a.Close()
			var warned map[string]any
			for _, line := range strings.Split(log.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil && m["level"] == "WARN" && strings.Contains(fmt.Sprint(m["msg"]), "notification log was damaged") {
					warned = m
				}
			}
			if d.damage == nil {
				if warned != nil {
					t.Errorf("a warning on a healthy notification log: %v", warned)
				}
				return
			}
			aside, _ := warned["movedTo"].(string)
			if warned["file"] != file || !strings.HasPrefix(aside, file+".damaged") {
				t.Fatalf("want a warning naming %s and its copy; log:\n%s", file, log.String())
			}
			if kept, err := os.ReadFile(aside); err != nil || !bytes.Equal(kept, damaged) {
				t.Errorf("the copy %s does not hold the damaged log: %v", aside, err)
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("no new notification log after the stop: %v", err)
			}
		})
	}
}

package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api/v1"
)

// incidentServer answers with the API's golden incident, runbook, remediation and
// certificate bodies (internal/api/testdata/golden).
func incidentServer(t *testing.T) *httptest.Server {
	t.Helper()
	bodies := map[string]string{"/v1/incidents": "incidents.json", "/v1/incidents/1": "incident.json", "/v1/runbooks": "runbooks.json",
		"/v1/remediation": "remediation.json", "/v1/certs": "certs.json"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := bodies[r.URL.Path]
		if !ok || r.Header.Get("Authorization") != "Bearer t" {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join("..", "api", "testdata", "golden", name))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set(v1.VersionHeader, "1")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// tendAt runs tend with args against srv and returns what it printed.
func tendAt(t *testing.T, srv *httptest.Server, args ...string) string {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--api", srv.URL, "--token", "t"))
	if err := root.Execute(); err != nil {
		t.Fatalf("tend %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// What `tend incidents|incident show|runbooks|remediation|certs -o json|yaml` print:
// durations as strings, no zero times, enums as documented.
func TestOutputOfIncidentsRunbooksRemediationAndCertsMatchesGolden(t *testing.T) {
	srv := incidentServer(t)
	var (
		nanoDuration = regexp.MustCompile(`(cooldown|successWithin|timeout|cpu)"?: *[0-9.e+]+,?\n`)
		float        = regexp.MustCompile(`[0-9]e[+-][0-9]`)
	)
	for _, cmd := range [][]string{{"incidents", "--all"}, {"incident", "show", "1"}, {"runbooks"}, {"remediation"}, {"certs"}} {
		for _, format := range []string{"json", "yaml"} {
			name := cmd[0] + "." + format
			t.Run(name, func(t *testing.T) {
				got := tendAt(t, srv, append(cmd, "-o", format)...)
				for _, bad := range []*regexp.Regexp{nanoDuration, float, regexp.MustCompile("0001-01-01"), regexp.MustCompile("ackedAt")} {
					if m := bad.FindString(got); m != "" {
						t.Errorf("%q in the output", m)
					}
				}
				path := filepath.Join("testdata", "golden", name)
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if got != string(want) {
					t.Errorf("%s changed (go test -update rewrites it if the change is meant):\n%s", path, got)
				}
			})
		}
	}
	for file, want := range map[string][]string{
		"runbooks.json":    {`"cooldown": "10m0s"`, `"successWithin": "3m0s"`},
		"runbooks.yaml":    {"cooldown: 10m0s", "successWithin: 3m0s", "kind: rollback"},
		"incidents.json":   {`"status": "triggered"`, `"acknowledgedBy": "bob"`},
		"remediation.yaml": {"enabled: false", "changedBy: ana"},
		"certs.yaml":       {"state: failing", "onDemand: true"},
	} {
		b, _ := os.ReadFile(filepath.Join("testdata", "golden", file))
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %s", file, w)
			}
		}
	}
}

// The tables people read say the same as before the API had types of its own.
func TestIncidentTablesSayDurationsAndTimesAsPeopleWriteThem(t *testing.T) {
	srv := incidentServer(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"runbooks"}, []string{"remediation OFF (tend remediation on); at most 3 actions per app per hour; cooldown 10m0s",
			"profile,rollback", "100%", "never"}},
		{[]string{"remediation"}, []string{"remediation is off (set by ana at "}},
		{[]string{"incident", "show", "1"}, []string{"Status        resolved", "Acknowledged  ", " by bob", "poke", "dry-run (dry run)",
			"looking (bob)"}},
		{[]string{"incidents"}, []string{"triggered", "critical", "hello fails 50% of its requests"}},
		{[]string{"certs"}, []string{"hello.example.com", "failing", "acme: rate limited", "expired"}},
	} {
		out := tendAt(t, srv, c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("tend %s lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
		if strings.Contains(out, "0001-01-01") {
			t.Errorf("tend %s shows a zero time:\n%s", strings.Join(c.args, " "), out)
		}
	}
}

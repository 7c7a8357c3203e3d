package alerting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedAlertmanagerConfigLoadsWithWarnings(t *testing.T) {
	cfg, err := LoadConfig("testdata/alertmanager-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"testdata/alertmanager-config.yaml:30: email_configs.subject", "testdata/alertmanager-config.yaml:31: email_configs.body"}
	if len(cfg.Warnings) != 2 || !strings.HasPrefix(cfg.Warnings[0], want[0]) || !strings.HasPrefix(cfg.Warnings[1], want[1]) {
		t.Fatalf("warnings = %q, want two starting %q", cfg.Warnings, want)
	}
	var critical bool
	for _, r := range cfg.Parsed.Receivers {
		if r.Name != "critical-alerts" {
			continue
		}
		critical = true
		e := r.EmailConfigs[0]
		if e.Headers["Subject"] != "[CRITICAL] {{ .GroupLabels.alertname }}" || !strings.Contains(e.Text, "Alert: {{ .Annotations.summary }}") {
			t.Fatalf("email config: subject %q, text %q", e.Headers["Subject"], e.Text)
		}
		if len(r.SlackConfigs) != 1 || r.SlackConfigs[0].Channel != "#alerts" {
			t.Fatalf("slack config of critical-alerts: %+v", r.SlackConfigs)
		}
	}
	if !critical {
		t.Fatal("receiver critical-alerts is missing")
	}
	routes := cfg.Parsed.Route.Routes
	if len(routes) != 2 || routes[0].Receiver != IncidentReceiver || !routes[0].Continue {
		t.Fatalf("routes = %+v, want tend's incident receiver with continue first", routes)
	}
	user := routes[1]
	if user.Receiver != "default" || len(user.Routes) != 2 || user.Routes[0].Receiver != "critical-alerts" || user.GroupWait.String() != "10s" {
		t.Fatalf("the seed's route tree was not kept as it is: %+v", user)
	}
	if cfg.Parsed.Route.GroupWait == nil || cfg.Parsed.Route.GroupWait.String() != "10s" {
		t.Fatalf("tend's route does not wait as the seed's root: %v", cfg.Parsed.Route.GroupWait)
	}
}

func TestAlertmanagerConfigErrorsNameTheUsersLine(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":    {"route:\n  receiver: a\nreceivers:\n- name: a\n  webhook_configs:\n  - url: http://127.0.0.1:1/\n    colour: red\n", ":7:5: field colour not found in type webhook.plain"},
		"unknown receiver": {"route:\n  receiver: nobody\nreceivers:\n- name: a\n", `undefined receiver "nobody"`},
		"subject twice":    {"route:\n  receiver: a\nreceivers:\n- name: a\n  email_configs:\n  - to: x@example.com\n    subject: s\n    headers: {Subject: t}\n", ":7: email_configs has both subject and headers.Subject"},
		"tend's name":      {"route:\n  receiver: tend-incidents\nreceivers:\n- name: tend-incidents\n", "is tend's own"},
		"no route":         {"receivers:\n- name: a\n", "no route"},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "am.yml")
			if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, f, tc.want)
			}
		})
	}
}

// Alertmanager reads tend's rewriting of the file, in which the user's root route is a
// child route: its errors still name the user's line and column.
func TestAlertmanagerConfigErrorsAreAtTheUsersLineAndColumn(t *testing.T) {
	const suffix = " (fields as in https://prometheus.io/docs/alerting/latest/configuration/)"
	for name, tc := range map[string]struct{ yaml, want string }{
		"in a receiver":      {"route:\n  receiver: a\nreceivers:\n- name: a\n  webhook_configs:\n  - url: http://127.0.0.1:1/\n    colour: red\n", ":7:5: field colour not found in type webhook.plain" + suffix},
		"in the root route":  {"route:\n  receiver: a\n  colour: red\nreceivers:\n- name: a\n", ":3:3: field colour not found in type config.plain" + suffix},
		"syntax error":       {"route:\n  receiver: a\n- name: a\n", ":3:1: not valid YAML: did not find expected key"},
		"without a position": {"route:\n  receiver: nobody\nreceivers:\n- name: a\n", `: undefined receiver "nobody" used in route` + suffix},
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "am.yml")
			if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadConfig(f); err == nil || err.Error() != f+tc.want {
				t.Fatalf("error:\n got %v\nwant %s", err, f+tc.want)
			}
		})
	}
}

func TestRuleFileYAMLErrorsNameLineColumnAndField(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field": {"groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n    colour: red\n", "r.yml:6:5: groups[0].rules[0].colour: field colour not found in type rulefmt.Rule"},
		"misindented":   {"groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n   for: 1m\n", "r.yml:6:1: not valid YAML: did not find expected key"},
		"bad query":     {"groups:\n- name: g\n  rules:\n  - alert: X\n    expr: rate(x[5m] > 1\n", `r.yml: 5:11: group "g", rule 1, "X": could not parse expression: 1:15: parse error: unclosed left parenthesis`},
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckRules("r.yml", []byte(tc.yaml)); err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestRuleFilesAreCheckedWhenLoaded(t *testing.T) {
	if err := checkRuleFiles([]string{"testdata/alert-rules.yaml"}); err != nil {
		t.Fatalf("the seed's rules: %v", err)
	}
	builtin := filepath.Join(t.TempDir(), "builtin.yml")
	if err := os.WriteFile(builtin, []byte(BuiltinRules), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkRuleFiles([]string{builtin}); err != nil {
		t.Fatalf("the built-in rules: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: rate(x[5m] > 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := checkRuleFiles([]string{bad, filepath.Join(t.TempDir(), "missing.yml")})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "missing.yml") {
		t.Fatalf("err = %v, want both files named", err)
	}
}

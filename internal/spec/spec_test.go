package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// badSpecs maps each testdata/*.bad.yaml to the exact message a user sees.
var badSpecs = map[string]string{
	"backup_schedule_fields.bad.yaml":      "testdata/backup_schedule_fields.bad.yaml:6:13: backups[0].schedule: expected exactly 5 fields, found 4: [0 3 * *]: want five fields (minute hour day month weekday) like \"0 3 * * *\", or @daily, @weekly, @every 6h",
	"backup_two_kinds.bad.yaml":            "testdata/backup_two_kinds.bad.yaml:4:3: backups[0]: want exactly one of postgres (a database) or files (a directory)",
	"backup_s3_plain_key.bad.yaml":         "testdata/backup_s3_plain_key.bad.yaml:7:82: backups[0].to.s3.secretKey: want {secret: NAME}: a secret key is kept as a secret (tend secret set APP NAME), never in the spec",
	"backup_verify_files.bad.yaml":         "testdata/backup_verify_files.bad.yaml:4:3: backups[0].verify: a restore drill restores a database: only a postgres backup has one",
	"backup_age_recipient.bad.yaml":        "testdata/backup_age_recipient.bad.yaml:6:19: backups[0].encrypt.age[0]: not an age recipient (age1..., from age-keygen): malformed recipient \"age1notakey\": invalid character data part: s[1]=111",
	"backup_unknown_field.bad.yaml":        "testdata/backup_unknown_field.bad.yaml:6:3: backups[0].retian: unknown field; did you mean \"retain\"?",
	"alerts_builtin_word.bad.yaml":         "testdata/alerts_builtin_word.bad.yaml:4:42: alerts.builtin: want true or false, got \"maybe\"",
	"alerts_unknown_field.bad.yaml":        "testdata/alerts_unknown_field.bad.yaml:4:10: alerts.files: unknown field; did you mean \"rules\"?",
	"analysis_load_no_rps.bad.yaml":        "testdata/analysis_load_no_rps.bad.yaml:18:13: strategy.canary.analysis.load.rps: required field is missing",
	"check_custom_no_query.bad.yaml":       "testdata/check_custom_no_query.bad.yaml:18:16: strategy.canary.analysis.checks[0].query: \"saturation\" is not a built-in check (error-rate, latency-p99, latency-p95, latency-p50): give it a PromQL query",
	"check_latency_percent.bad.yaml":       "testdata/check_latency_percent.bad.yaml:18:41: strategy.canary.analysis.checks[0].max: latency-p99 is a latency: want a duration like 500ms, got \"5%\"",
	"check_no_condition.bad.yaml":          "testdata/check_no_condition.bad.yaml:18:16: strategy.canary.analysis.checks[0]: a check needs a condition: max, min or baseline: true (without one it could never fail)",
	"check_rate_duration.bad.yaml":         "testdata/check_rate_duration.bad.yaml:18:40: strategy.canary.analysis.checks[0].max: error-rate is a share of requests: want a percentage like 1%, got \"500ms\"",
	"mirror_count.bad.yaml":                "testdata/mirror_count.bad.yaml:17:13: strategy.canary.mirror: want a percentage of the stable revision's requests like 10%, got \"3\"",
	"metrics_port.bad.yaml":                "testdata/metrics_port.bad.yaml:4:17: metrics.port: want admin (the instance's ADMIN_PORT) or app (its PORT), got \"public\"",
	"app_number.bad.yaml":                  "testdata/app_number.bad.yaml:1:6: app: want a string, got \"42\" (quote it)",
	"app_uppercase.bad.yaml":               "testdata/app_uppercase.bad.yaml:1:6: app: want a name of lowercase letters, digits and '-' (at most 63, like my-app), got \"Hello_World\"",
	"autopromote_word.bad.yaml":            "testdata/autopromote_word.bad.yaml:16:28: strategy.blueGreen.autoPromote: want true or false, got \"yes please\"",
	"autoscale_min_over_max.bad.yaml":      "testdata/autoscale_min_over_max.bad.yaml:6:8: autoscale.max: max (2) is below min (5)",
	"autoscale_target_zero.bad.yaml":       "testdata/autoscale_target_zero.bad.yaml:6:18: autoscale.targets.cpu: want a percentage above 0% like 70%, got \"0%\" (remove the target to not scale on it)",
	"autoscale_unknown_metric.bad.yaml":    "testdata/autoscale_unknown_metric.bad.yaml:6:13: autoscale.targets.cpuu: unknown field; did you mean \"cpu\"?",
	"autoscale_memory_no_limit.bad.yaml":   "testdata/autoscale_memory_no_limit.bad.yaml:6:21: autoscale.targets.memory: a memory target is a share of resources.memory: set resources.memory (like 256Mi) or remove the target",
	"autoscale_instances_outside.bad.yaml": "testdata/autoscale_instances_outside.bad.yaml:4:12: instances: the first count of an autoscaled app must be between autoscale.min (2) and max (4), got 9",
	"autoscale_policy_two.bad.yaml":        "testdata/autoscale_policy_two.bad.yaml:8:18: autoscale.behavior.scaleUp.policies[0]: set pods (instances) or percent (of the count), one of them",
	"autoscale_custom_no_target.bad.yaml":  "testdata/autoscale_custom_no_target.bad.yaml:7:14: autoscale.targets.custom[0].target: required field is missing",
	"autoscale_no_max.bad.yaml":            "testdata/autoscale_no_max.bad.yaml:5:3: autoscale.max: required field is missing: the most instances the autoscaler may run, like 10",
	"bad_host.bad.yaml":                    "testdata/bad_host.bad.yaml:6:11: route.hosts[0]: want a lowercase host name like app.example.com or *.example.com, got \"Hello World\"",
	"build_both.bad.yaml":                  "testdata/build_both.bad.yaml:4:11: build.binary: set build.main or build.binary, not both",
	"canary_match_two.bad.yaml":            "testdata/canary_match_two.bad.yaml:18:9: strategy.canary.match[0]: a rule matches exactly one header or one cookie, like {header: {X-Canary: \"yes\"}}",
	"canary_step_two_kinds.bad.yaml":       "testdata/canary_step_two_kinds.bad.yaml:18:9: strategy.canary.steps[0]: a step is exactly one of weight, pause or analysis; split it into several steps",
	"canary_steps_not_list.bad.yaml":       "testdata/canary_steps_not_list.bad.yaml:17:12: strategy.canary.steps: want a list of steps like [{weight: 10}, {pause: 1m}], got a mapping",
	"canary_weight_range.bad.yaml":         "testdata/canary_weight_range.bad.yaml:17:36: strategy.canary.steps[1].weight: want a percentage of traffic between 0 and 100, got 150",
	"check_no_name.bad.yaml":               "testdata/check_no_name.bad.yaml:18:16: strategy.canary.analysis.checks[0].name: required field is missing",
	"cpu_bad.bad.yaml":                     "testdata/cpu_bad.bad.yaml:13:18: resources.cpu: want a positive CPU amount like 500m, 0.5 or 2, got \"lots\"",
	"duplicate_key.bad.yaml":               "testdata/duplicate_key.bad.yaml:5:1: instances: appears twice; keep one",
	"duration_negative.bad.yaml":           "testdata/duration_negative.bad.yaml:14:19: shutdown.grace: must not be negative, got -5s",
	"duration_no_unit.bad.yaml":            "testdata/duration_no_unit.bad.yaml:11:39: health.readiness.interval: want a duration like 10s or 1m30s, got \"2\" (add a unit: 2s)",
	"env_nul.bad.yaml":                     "testdata/env_nul.bad.yaml:6:3: env.K: contains a NUL byte, which no process environment can hold: remove it",
	"canary_steps_empty.bad.yaml":          "testdata/canary_steps_empty.bad.yaml:6:19: strategy.canary.steps: an empty list of steps: give steps like [{weight: 10}, {pause: 1m}], or remove steps for the default (weight 20%, then a pause for tend promote)",
	"env_bad_name.bad.yaml":                "testdata/env_bad_name.bad.yaml:9:3: env.LOG-LEVEL: not a valid environment variable name (letters, digits and _, not starting with a digit)",
	"files_outside.bad.yaml":               `testdata/files_outside.bad.yaml:5:10: files[0].path: "../etc/passwd" is not inside the instance's working dir: give a relative path like config/production.yaml`,
	"files_two_sources.bad.yaml":           "testdata/files_two_sources.bad.yaml:5:3: files[0]: want exactly one of from (a file of the app's) or secret (a secret's value)",
	"secret_name_bad.bad.yaml":             `testdata/secret_name_bad.bad.yaml:5:26: env.DATABASE_URL.secret: secret name "db/url": want letters, digits, '_', '.' or '-', starting with a letter, at most 63 (like db-url)`,
	"secrets_not_a_variable.bad.yaml":      `testdata/secrets_not_a_variable.bad.yaml:4:11: secrets[0]: "db-url" is given to instances as the variable of the same name: want letters, digits and _, not starting with a digit (or use env: {VAR: {secret: db-url}})`,
	"secrets_also_in_env.bad.yaml":         "testdata/secrets_also_in_env.bad.yaml:6:11: secrets[0]: env sets API_KEY too; keep one",
	"secret_empty.bad.yaml":                "testdata/secret_empty.bad.yaml:5:17: env.DATABASE_URL.secret: want the name of a secret (tend secret list APP shows them)",
	"env_nested.bad.yaml":                  "testdata/env_nested.bad.yaml:9:14: env.LOG_LEVEL: want a value, or {secret: NAME} for a secret set with tend secret set, got a mapping",
	"env_reserved.bad.yaml":                "testdata/env_reserved.bad.yaml:10:3: env.PORT: reserved: tend sets PORT and TEND_* for every instance",
	"instances_huge.bad.yaml":              "testdata/instances_huge.bad.yaml:4:12: instances: want between 1 and 1000 instances, got 5000",
	"instances_word.bad.yaml":              "testdata/instances_word.bad.yaml:4:12: instances: want a whole number, got \"three\"",
	"instances_zero.bad.yaml":              "testdata/instances_zero.bad.yaml:4:12: instances: want between 1 and 1000 instances, got 0",
	"memory_bad.bad.yaml":                  "testdata/memory_bad.bad.yaml:13:32: resources.memory: want a positive memory amount like 256Mi, 1Gi or 512M, got \"256MB\"",
	"max_body_bad.bad.yaml":                "testdata/max_body_bad.bad.yaml:6:12: route.maxBody: want a positive size like 1Mi, 512Ki or 10M, got \"1MB\"",
	"protocol_bad.bad.yaml":                "testdata/protocol_bad.bad.yaml:6:13: route.protocol: want http (HTTP/1.1) or http2 (HTTP/2 without TLS, for gRPC), got \"grpc\"",
	"probe_two_kinds.bad.yaml":             "testdata/probe_two_kinds.bad.yaml:6:14: health.readiness: a probe is one of http, tcp or grpc; choose one",
	"tls_word.bad.yaml":                    "testdata/tls_word.bad.yaml:6:8: route.tls: want auto (certificates from the ACME CA) or a mapping like {cert: cert.pem, key: key.pem}, got \"yes\"",
	"tls_no_hosts.bad.yaml":                "testdata/tls_no_hosts.bad.yaml:6:8: route.tls: HTTPS needs the app's host names, for its certificate: list them in route.hosts, or set route.tls.onDemand to approve each host at its first TLS handshake",
	"tls_auto_wildcard.bad.yaml":           "testdata/tls_auto_wildcard.bad.yaml:6:11: route.hosts[0]: a wildcard host cannot get an ACME certificate over HTTP-01 or TLS-ALPN-01 (it needs DNS-01, which tend does not do): list the names, give route.tls a cert and key, or set route.tls.onDemand to get one certificate per name at its first TLS handshake",
	"tls_ondemand_no_auto.bad.yaml":        "testdata/tls_ondemand_no_auto.bad.yaml:10:15: route.tls.onDemand: on-demand certificates come from the ACME CA: set route.tls.auto: true (and no cert or key)",
	"tls_ondemand_relative.bad.yaml":       "testdata/tls_ondemand_relative.bad.yaml:7:31: route.tls.onDemand: want the absolute http or https URL of your approval endpoint, like https://api.example.com/allow-tls, got \"/allow-tls\"",
	"tls_ondemand_scheme.bad.yaml":         "testdata/tls_ondemand_scheme.bad.yaml:8:15: route.tls.onDemand: want the absolute http or https URL of your approval endpoint, like https://api.example.com/allow-tls, got \"ftp://api.example.com/allow-tls\"",
	"tls_ondemand_word.bad.yaml":           "testdata/tls_ondemand_word.bad.yaml:6:31: route.tls.onDemand: want a string, got a list",
	"tls_cert_no_key.bad.yaml":             "testdata/tls_cert_no_key.bad.yaml:7:15: route.tls.cert: a certificate needs its private key: set route.tls.key too",
	"route_timeout_bad.bad.yaml":           "testdata/route_timeout_bad.bad.yaml:6:24: route.timeouts.response: want a duration like 10s or 1m30s, got \"60\" (add a unit: 60s)",
	"missing_app.bad.yaml":                 "testdata/missing_app.bad.yaml:1:1: app: required field is missing",
	"missing_build.bad.yaml":               "testdata/missing_build.bad.yaml:1:1: build: required field is missing",
	"not_mapping.bad.yaml":                 "testdata/not_mapping.bad.yaml:1:1: want a mapping with app, build, instances, ...; got a list",
	"onfailure_bad.bad.yaml":               "testdata/onfailure_bad.bad.yaml:17:27: strategy.canary.analysis.onFailure: want rollback or pause, got \"ignore\"",
	"path_no_slash.bad.yaml":               "testdata/path_no_slash.bad.yaml:7:15: route.pathPrefix: must start with /, got \"api\"",
	"pause_zero.bad.yaml":                  "testdata/pause_zero.bad.yaml:17:35: strategy.canary.steps[1].pause: a pause of 0 does nothing; use {} to wait for `tend promote`",
	"probe_path.bad.yaml":                  "testdata/probe_path.bad.yaml:11:21: health.readiness.http: want a path starting with /, like /ready, got \"ready\"",
	"surge_and_unavailable_zero.bad.yaml":  "testdata/surge_and_unavailable_zero.bad.yaml:16:23: strategy.rolling.maxSurge: maxSurge and maxUnavailable cannot both be 0: the rollout could never move",
	"surge_over_100.bad.yaml":              "testdata/surge_over_100.bad.yaml:16:23: strategy.rolling.maxSurge: a percentage must be at most 100%, got 150%",
	"surge_word.bad.yaml":                  "testdata/surge_word.bad.yaml:16:23: strategy.rolling.maxSurge: want a count or a percentage like 25%, got \"lots\"",
	"threshold_word.bad.yaml":              "testdata/threshold_word.bad.yaml:12:62: health.liveness.failureThreshold: want a whole number, got \"many\"",
	"timeout_over_interval.bad.yaml":       "testdata/timeout_over_interval.bad.yaml:11:52: health.readiness.timeout: must be shorter than the interval (2s), got 3s",
	"two_documents.bad.yaml":               "testdata/two_documents.bad.yaml:18:1: a second YAML document (---): a spec file holds one app",
	"two_strategies.bad.yaml":              "testdata/two_strategies.bad.yaml:17:14: strategy.blueGreen: choose one strategy: rolling and blueGreen are both set",
	"typo_field.bad.yaml":                  "testdata/typo_field.bad.yaml:4:1: instanses: unknown field; did you mean \"instances\"?",
	"unknown_field.bad.yaml":               "testdata/unknown_field.bad.yaml:5:1: replicas: unknown field; did you mean \"instances\"?",
	"yaml_syntax.bad.yaml":                 "testdata/yaml_syntax.bad.yaml:4:1: not valid YAML: did not find expected ',' or ']'",
}

func TestBadSpecsFailWithPositionAndField(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(badSpecs) {
		t.Errorf("%d bad specs in testdata, %d in the table: keep them in step", len(files), len(badSpecs))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, ok := badSpecs[filepath.Base(f)]
			if !ok {
				t.Fatalf("no expected message for %s", f)
			}
			a, err := Load(f)
			if err == nil {
				t.Fatalf("loaded without error: %+v", a)
			}
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
		})
	}
}

func TestGoodSpecLoadsWithDefaults(t *testing.T) {
	a, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a.App != "hello" || a.Instances != 3 || a.Build.Main != "./cmd/hello" || a.Route.Hosts[0] != "hello.localhost" {
		t.Errorf("loaded %+v", a)
	}
	if r := a.Route; r.MaxBodyBytes != 1<<20 || r.Timeouts.Response != 30*time.Second || r.Timeouts.Body != 10*time.Second {
		t.Errorf("route %+v, want maxBody 1 MiB and timeouts 30s and 10s", r)
	}
	if a.Resources.MilliCPU != 500 || a.Resources.MemoryBytes != 256<<20 {
		t.Errorf("resources %+v, want 500 millicores and 256 MiB", a.Resources)
	}
	if r := a.Strategy.Rolling; r == nil || r.MaxSurge != (IntOrPercent{25, true}) || r.MaxUnavailable != (IntOrPercent{0, false}) {
		t.Errorf("rolling %+v", a.Strategy.Rolling)
	}
	if a.Shutdown.Grace != 30*time.Second || a.Shutdown.Drain != DefaultDrain || a.Strategy.RollbackWindow != DefaultRollbackWindow {
		t.Errorf("defaults not applied: shutdown %+v rollbackWindow %s", a.Shutdown, a.Strategy.RollbackWindow)
	}
	if p := a.Health.Liveness; p.Timeout != time.Second || p.SuccessThreshold != 1 {
		t.Errorf("liveness defaults %+v", p)
	}
	abs, _ := filepath.Abs("testdata")
	if a.Dir != abs || a.File != "testdata/full.good.yaml" {
		t.Errorf("File %q Dir %q, want the path as given and its absolute directory", a.File, a.Dir)
	}
}

func TestMinimalSpecGetsEveryDefault(t *testing.T) {
	a, err := Parse("tend.yaml", []byte("app: hello\nbuild: {binary: ./hello}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Instances != 1 || a.Route.PathPrefix != "/" || a.Strategy.Kind() != "rolling" || a.Strategy.ProgressDeadline != DefaultProgressDeadline {
		t.Errorf("defaults: %+v", a)
	}
	if r := a.Health.Readiness; r == nil || r.HTTP != "/" || r.Interval != DefaultReadinessInterval || r.FailureThreshold != 3 {
		t.Errorf("readiness default %+v", r)
	}
	if a.Health.Liveness != nil {
		t.Errorf("liveness set by default: %+v", a.Health.Liveness)
	}
}

func TestCanaryFormsAndDefaults(t *testing.T) {
	src := `app: hello
build: {main: .}
strategy:
  canary:
    steps: [{weight: 10}, {pause: 1m}, {pause: {duration: 30s}}, {pause: {}}, {analysis: {}}, {weight: 50}]
    match: [{header: {X-Canary: "yes"}}, {cookie: {canary: "1"}}]
    mirror: 10%
    analysis: {checks: [{name: error-rate, max: 1%}, {name: latency-p99, max: 500ms}]}
`
	a, err := Parse("tend.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := a.Strategy.Canary
	if len(c.Steps) != 6 || *c.Steps[0].Weight != 10 || c.Steps[1].Pause.Duration != time.Minute ||
		c.Steps[2].Pause.Duration != 30*time.Second || c.Steps[3].Pause.Duration != 0 || c.Steps[4].Analysis == nil {
		t.Errorf("steps %+v", c.Steps)
	}
	if c.Match[0].Header["X-Canary"] != "yes" || c.Match[1].Cookie["canary"] != "1" {
		t.Errorf("match %+v", c.Match)
	}
	if c.Analysis.Interval != DefaultAnalysisInterval || c.Analysis.OnFailure != "rollback" || c.Analysis.Checks[1].Max.Value != 0.5 || c.Analysis.Count != DefaultAnalysisCount || c.Analysis.MinRequests != DefaultMinRequests {
		t.Errorf("analysis %+v", c.Analysis)
	}
	if c.Mirror != 10 {
		t.Errorf("mirror %d, want 10 (percent)", c.Mirror)
	}
	if a.Strategy.Kind() != "canary" {
		t.Errorf("kind %s", a.Strategy.Kind())
	}
}

func TestEveryErrorIsReportedAtOnce(t *testing.T) {
	_, err := Parse("tend.yaml", []byte("app: hello\nbuild: {main: .}\ninstances: x\nshutdown: {grace: soon}\nfoo: 1\n"))
	es, ok := err.(Errors)
	if !ok || len(es) != 3 {
		t.Fatalf("got %v, want 3 errors at once", err)
	}
	for i, line := range []int{3, 4, 5} {
		if es[i].Line != line {
			t.Errorf("error %d at line %d, want %d (in file order): %v", i, es[i].Line, line, es[i])
		}
	}
}

func TestHashChangesOnlyWithWhatInstancesSee(t *testing.T) {
	load := func(extra string) string {
		a, err := Parse("tend.yaml", []byte("app: hello\nbuild: {main: .}\n"+extra))
		if err != nil {
			t.Fatal(err)
		}
		return a.Hash()
	}
	base := load("")
	if load("route: {pathPrefix: /api}\n") != base {
		t.Error("a route change changed the revision hash")
	}
	if load("env: {A: b}\n") == base {
		t.Error("an env change did not change the revision hash")
	}
}

func TestValidateWithoutPositions(t *testing.T) {
	a := &App{App: "x", Instances: 0, Route: Route{PathPrefix: "/"}}
	err := a.Validate()
	if err == nil || !strings.Contains(err.Error(), "build: set build.main") || !strings.Contains(err.Error(), "instances: want between 1 and 1000") {
		t.Fatalf("Validate: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse("tend.yaml", data)
		if err == nil {
			if a.Validate() != nil {
				t.Fatalf("Parse accepted a spec that Validate rejects: %v", a.Validate())
			}
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "tend.yaml:") {
				t.Fatalf("error line without the file name: %q", line)
			}
		}
	})
}

func TestAlertsTakeAListOrAMapping(t *testing.T) {
	a, err := Parse("a.yaml", []byte("app: a\nbuild: {main: .}\nalerts: [./rules.yaml, ./more.yaml]\n"))
	if err != nil || len(a.Alerts.Rules) != 2 || a.Alerts.Rules[1] != "./more.yaml" || a.Alerts.NoBuiltin {
		t.Fatalf("list form: %+v, %v", a, err)
	}
	a, err = Parse("a.yaml", []byte("app: a\nbuild: {main: .}\nalerts: {rules: [./rules.yaml], builtin: false}\n"))
	if err != nil || len(a.Alerts.Rules) != 1 || !a.Alerts.NoBuiltin {
		t.Fatalf("mapping form: %+v, %v", a, err)
	}
}

func TestOnDemandTLSAllowsWildcardsAndNoHosts(t *testing.T) {
	for _, route := range []string{
		`{hosts: ["*.shops.example.com", shops.example.com], tls: {auto: true, onDemand: "https://api.example.com/allow-tls?key=1"}}`,
		`{tls: {auto: true, onDemand: "http://127.0.0.1:8080/allow"}}`,
	} {
		a, err := Parse("tend.yaml", []byte("app: shop\nbuild: {main: .}\nroute: "+route+"\n"))
		if err != nil {
			t.Fatalf("route %s: %v", route, err)
		}
		if tls := a.Route.TLS; tls == nil || !tls.Auto || tls.OnDemand == "" || !tls.Redirect {
			t.Errorf("route %s: tls %+v, want auto, onDemand and the default redirect", route, tls)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("route %s: Validate: %v", route, err)
		}
	}
}

// What users write short gets the documented defaults rather than an error about a
// value they never wrote.
func TestShortFormsGetTheDocumentedDefaults(t *testing.T) {
	a, err := Parse("tend.yaml", []byte("app: hello\nbuild: {main: ./}\nhealth:\n  readiness: {http: /ready, interval: 1s}\nstrategy: {rolling: {}}\n"))
	if err != nil {
		t.Fatalf("rolling: {} and a probe with only an interval: %v", err)
	}
	if r := a.Strategy.Rolling; r == nil || r.MaxSurge != (IntOrPercent{Value: DefaultMaxSurgePercent, Percent: true}) {
		t.Errorf("rolling: {} got %+v, want maxSurge %d%%", r, DefaultMaxSurgePercent)
	}
	if p := a.Health.Readiness; p.Timeout != 500*time.Millisecond {
		t.Errorf("a probe with interval 1s and no timeout got timeout %s, want 500ms (half the interval)", p.Timeout)
	}
	if _, err := Parse("tend.yaml", []byte("app: hello\nbuild: {main: ./}\nstrategy: {rolling: {maxSurge: 0, maxUnavailable: 0}}\n")); err == nil {
		t.Error("maxSurge and maxUnavailable both written as 0 were accepted")
	}
}

// Errors found after parsing (the controller's, about certificate files) point at the
// field, or at its nearest parent when the field was left out.
func TestFieldErrorPointsAtTheFieldOrItsParent(t *testing.T) {
	a, err := Parse("tend.yaml", []byte("app: hello\nbuild: {main: .}\nroute:\n  hosts: [a.example.com, b.example.com]\n  tls: {cert: c.pem, key: k.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a.File = "/srv/hello/tend.yaml"
	for _, tc := range []struct{ field, want string }{
		{"route.tls.cert", "/srv/hello/tend.yaml:5:15: route.tls.cert: no such file"},
		{"route.hosts[1]", "/srv/hello/tend.yaml:4:26: route.hosts[1]: no such file"},
		{"route.tls.onDemand", "/srv/hello/tend.yaml:5:8: route.tls.onDemand: no such file"},
		{"health.readiness", "/srv/hello/tend.yaml:1:1: health.readiness: no such file"},
	} {
		if got := a.FieldError(tc.field, "no such file").Error(); got != tc.want {
			t.Errorf("FieldError(%s):\n got %s\nwant %s", tc.field, got, tc.want)
		}
	}
	if got := (&App{File: "tend.yaml"}).FieldError("route.tls", "no HTTPS").Error(); got != "tend.yaml: route.tls: no HTTPS" {
		t.Errorf("FieldError of a spec built in code: %s", got)
	}
}

func TestSyntaxErrorOnLineTwoIsReportedThere(t *testing.T) {
	_, err := Parse("tend.yaml", []byte("app: hello\n- build\n"))
	if want := "tend.yaml:2:1: not valid YAML: did not find expected key"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

// With a Root (an upload), every path of the spec is the client's, inside Root: ".."
// stops at the client's root, and absolute paths are the client's too.
func TestPathsOfAnUploadStayInIt(t *testing.T) {
	a := &App{File: "/home/u/shop/deploy/tend.yaml", Root: "/data/uploads/d/root"}
	for p, want := range map[string]string{
		"../cmd/shop":                     "/data/uploads/d/root/home/u/shop/cmd/shop",
		"rules.yaml":                      "/data/uploads/d/root/home/u/shop/deploy/rules.yaml",
		"/etc/passwd":                     "/data/uploads/d/root/etc/passwd",
		"../../../../../../../etc/shadow": "/data/uploads/d/root/etc/shadow",
		"":                                "",
	} {
		if got := a.Path(p); got != want {
			t.Errorf("Path(%q) = %q, want %q", p, got, want)
		}
	}
	local := &App{Dir: "/srv/shop"}
	if got := local.Path("../x"); got != "/srv/x" {
		t.Errorf("without a Root: Path(../x) = %q", got)
	}
}

// Config files together are bounded as one is: a revision keeps them.
func TestConfigFilesAreBoundedTogether(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", MaxFileSize/2+1)
	if err := os.WriteFile(filepath.Join(dir, "half.yaml"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Parse(filepath.Join(dir, "tend.yaml"), []byte("app: a\nbuild: {main: .}\nfiles:\n- {path: a.yaml, from: half.yaml}\n- {path: b.yaml, from: half.yaml}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a.Dir = dir
	if err := a.ReadFiles(); err == nil || !strings.Contains(err.Error(), "files[1].from") || !strings.Contains(err.Error(), "together") {
		t.Errorf("two half-MiB files and a bit: %v", err)
	}
}

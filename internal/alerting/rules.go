package alerting

import (
	"errors"
	"fmt"
	"os"
)

// BuiltinRules are the alerts every app gets unless the server runs with
// --builtin-rules=false. They read the gateway's per-revision metrics (recorded every
// second) and the instances' scrapes; the windows are short because tend is often the
// first to know, and each rule waits out a `for` so one bad scrape pages nobody.
const BuiltinRules = `groups:
- name: tend-builtin
  rules:
  - alert: HighErrorRate
    expr: |
      (sum by (app, revision) (rate(tend_gateway_requests_total{code=~"5.."}[30s]))
        / sum by (app, revision) (rate(tend_gateway_requests_total[30s])) > 0.05)
      and sum by (app, revision) (rate(tend_gateway_requests_total[30s])) > 0.5
    for: 10s
    labels: {severity: critical, source: tend}
    annotations:
      summary: "{{ $labels.app }} revision {{ $labels.revision }} fails {{ $value | humanizePercentage }} of its requests"
      description: "More than 5% of the requests the gateway sent to revision {{ $labels.revision }} of {{ $labels.app }} answered 5xx over the last 30s."
  - alert: HighLatency
    expr: |
      histogram_quantile(0.95, sum by (app, revision, le) (rate(tend_gateway_request_duration_seconds_bucket[1m]))) > 0.5
    for: 1m
    labels: {severity: warning, source: tend}
    annotations:
      summary: "{{ $labels.app }} revision {{ $labels.revision }} answers in {{ $value | humanizeDuration }} at p95"
      description: "The 95th percentile of request time through the gateway has been above 500ms for a minute."
  - alert: InstanceDown
    expr: up{app!=""} == 0
    for: 30s
    labels: {severity: critical, source: tend}
    annotations:
      summary: "instance {{ $labels.instance }} of {{ $labels.app }} does not answer its metrics scrape"
      description: "tend could not scrape {{ $labels.instance }} (revision {{ $labels.revision }}) for 30s."
  - alert: CrashLooping
    expr: sum by (app, revision) (increase(tend_instance_restarts_total[5m])) >= 3
    labels: {severity: critical, source: tend}
    annotations:
      summary: "{{ $labels.app }} revision {{ $labels.revision }} restarted {{ $value | printf \"%.0f\" }} times in 5m"
      description: "Its instances keep exiting; tend restarts them with a growing backoff. See tend logs {{ $labels.app }}."
  - alert: HighMemoryUsage
    expr: tend_instance_resident_memory_bytes / tend_instance_memory_limit_bytes > 0.9
    for: 5m
    labels: {severity: warning, source: tend}
    annotations:
      summary: "instance {{ $labels.instance }} of {{ $labels.app }} uses {{ $value | humanizePercentage }} of its memory limit"
      description: "Resident memory above 90% of resources.memory for 5 minutes."
  - alert: GatewayDown
    expr: tend_gateway_up == 0
    for: 10s
    labels: {severity: critical, source: tend}
    annotations:
      summary: "tend server cannot reach its gateway"
      description: "The server has not gathered the gateway's metrics for 10s: the gateway process is down or stuck. tend server restarts a gateway that exited; one run on its own (tend gateway under systemd) is its supervisor's to restart. See DATA/gateway/gateway.log."
  - alert: CertificateExpiresSoon
    expr: tend_certificate_expiry_seconds < 14 * 86400
    for: 1m
    labels: {severity: warning, source: tend}
    annotations:
      summary: "the certificate of {{ $labels.host }} expires in {{ $value | humanizeDuration }}"
      description: "tend renews ACME certificates two thirds into their lifetime, so one this close to its end failed to renew (see tend certs), or it comes from route.tls files nobody replaced."
  - alert: CertificateRenewalFailing
    expr: tend_certificate_renewal_failures >= 3
    labels: {severity: warning, source: tend}
    annotations:
      summary: "tend failed {{ $value | printf \"%.0f\" }} times in a row to obtain the certificate of {{ $labels.host }}"
      description: "The ACME CA refused the order or could not validate the host (see tend certs for its last error). The gateway serves the previous certificate, if any, until it expires; tend retries with a growing backoff up to an hour."
  - alert: RolloutFailed
    expr: increase(tend_analysis_verdicts_total{result="fail"}[10m]) > 0
    labels: {severity: warning, source: tend}
    annotations:
      summary: "a rollout of {{ $labels.app }} failed its analysis"
      description: "See tend analysis {{ $labels.app }} and tend history {{ $labels.app }}."
  - alert: BackupFailed
    expr: tend_backup_last_run_success == 0
    labels: {severity: critical, source: tend}
    annotations:
      summary: "backup {{ $labels.name }} of {{ if $labels.app }}{{ $labels.app }}{{ else }}tend's state{{ end }} failed, retries included"
      description: "Its last scheduled run and every retry failed, leaving no archive. tend backup list says why; tend backup run tries again now."
  - alert: BackupMissing
    expr: time() - tend_backup_last_success_timestamp_seconds > 2 * tend_backup_interval_seconds
    labels: {severity: critical, source: tend}
    annotations:
      summary: "the newest archive of backup {{ $labels.name }} of {{ if $labels.app }}{{ $labels.app }}{{ else }}tend's state{{ end }} is {{ $value | humanizeDuration }} old"
      description: "Older than twice its schedule's interval: runs are failing or not happening. See tend backup list."
  - alert: BackupVerifyFailed
    expr: tend_backup_last_verify_success == 0
    labels: {severity: critical, source: tend}
    annotations:
      summary: "the restore drill of backup {{ $labels.name }} of {{ $labels.app }} failed"
      description: "tend restored the newest archive into a scratch database and the check failed: the backup may not restore. See tend backup list {{ $labels.app }}."
`

// checkRuleFiles parses every rule file as Prometheus does (CheckRules), so that a bad
// file stops the server at start with its name and line: the rules manager itself only
// says that loading failed.
func checkRuleFiles(files []string) error {
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule file: %w", err))
			continue
		}
		errs = append(errs, CheckRules(f, b))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w\n(rule files use Prometheus' format: https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/)", err)
	}
	return nil
}

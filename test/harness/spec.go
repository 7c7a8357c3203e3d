package harness

import "fmt"

// HelloSpec is a tend.yaml for examples/hello (at helloDir) with n instances, env
// RELEASE=release (a new release is a new revision) and the given strategy block,
// indented by two spaces under `strategy:`.
func HelloSpec(helloDir string, n int, release, strategy string) string {
	return fmt.Sprintf(`app: hello
build: {main: %s}
instances: %d
env: {RELEASE: "%s"}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
  liveness: {http: /health, interval: 1s, timeout: 500ms, failureThreshold: 3}
shutdown: {grace: 5s, drain: 500ms}
strategy:
%s
  progressDeadline: 30s
  rollbackWindow: 10m
`, helloDir, n, release, strategy)
}

// Rolling is the strategy block of a surge-one rolling update.
const Rolling = `  rolling: {maxSurge: 1, maxUnavailable: 0}`

// HelloCanarySpec is a tend.yaml for examples/hello with n instances, the given env (the
// body of a YAML flow mapping, like `RELEASE: "2", FAULT_ERROR_RATE: "0.05"`) and the
// given canary block, indented by four spaces under `canary:`.
func HelloCanarySpec(helloDir string, n int, env, canary string) string {
	return fmt.Sprintf(`app: hello
build: {main: %s}
instances: %d
env: {%s}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
shutdown: {grace: 5s, drain: 500ms}
strategy:
  canary:
%s
  progressDeadline: 30s
`, helloDir, n, env, canary)
}

// AnalysedCanary is the canary of issue 4's measurements: 10% of traffic with an analysis,
// then 50% with another, measuring every 5 s with the default checks.
const AnalysedCanary = `    steps: [{weight: 10}, {analysis: {}}, {weight: 50}, {analysis: {}}]
    analysis: {interval: 5s}`

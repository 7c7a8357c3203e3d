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

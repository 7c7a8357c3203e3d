package kube

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/test/harness"
)

// TestTheAutoscalerSizesRevisionDeployments: on the kubernetes runtime, tend's
// autoscaler (not an HPA: tend runs one Deployment per revision) sizes hello's
// Deployment from its request rate through the gateway: 150 req/s at 50 per instance
// is 3 pods, and back to 1 when the load drops, with no request failing.
func TestTheAutoscalerSizesRevisionDeployments(t *testing.T) {
	s, c := startTend(t, "kubernetes", "--autoscale-interval", "2s")
	_, hello := tend(t)
	file := filepath.Join(t.TempDir(), "tend.yaml")
	spec := fmt.Sprintf(`app: hello
build: {main: %s}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
shutdown: {grace: 2s, drain: 300ms}
autoscale:
  min: 1
  max: 4
  targets: {rps: 50}
  behavior:
    scaleDown: {stabilizationWindow: 5s}
`, hello)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Tend("deploy", "-f", file); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	replicas := func() (int, error) {
		code, body, err := c.do("GET", "/apis/apps/v1/namespaces/apps/deployments/"+k8s.RevisionName("hello", 1), "", nil)
		if err != nil || code != 200 {
			return 0, fmt.Errorf("GET the Deployment: %d %v", code, err)
		}
		var d struct {
			Spec struct {
				Replicas int `json:"replicas"`
			} `json:"spec"`
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			return 0, err
		}
		if d.Spec.Replicas != d.Status.ReadyReplicas {
			return 0, fmt.Errorf("%d replicas, %d ready", d.Spec.Replicas, d.Status.ReadyReplicas)
		}
		return d.Spec.Replicas, nil
	}
	wait := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			st, err := s.Status("hello")
			r, rerr := replicas()
			if err == nil && rerr == nil && st.Instances == n && r == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: tend says %d instances (%v, autoscale %+v), the Deployment %d (%v); want %d", what, st.Instances, err, st.Autoscale, r, rerr, n)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	high := harness.StartLoad(s.Server, 150, 3*time.Minute)
	wait(3, "150 req/s")
	up := high.Finish()
	low := harness.StartLoad(s.Server, 10, 3*time.Minute)
	wait(1, "10 req/s")
	down := low.Finish()
	if up.Failed+down.Failed > 0 {
		t.Fatalf("%d requests failed while scaling: %v %v", up.Failed+down.Failed, up.Failures, down.Failures)
	}
	out, err := s.Tend("autoscale", "hello")
	if err != nil {
		t.Fatalf("tend autoscale: %v\n%s", err, out)
	}
	t.Logf("%d and %d requests; tend autoscale:\n%s", up.OK, down.OK, out)
}

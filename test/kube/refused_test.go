package kube

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// TestRefusedPodsFailTheRolloutWithTheClustersReason: when the cluster refuses a new
// revision's pods (here a ResourceQuota that is used up), there is no pod to ask why; the rollout fails at its
// progressDeadline with the reason from the Deployment's ReplicaFailure condition, and
// the old revision keeps serving.
func TestRefusedPodsFailTheRolloutWithTheClustersReason(t *testing.T) {
	s, c := startTend(t, "kubernetes")
	_, hello := tend(t)
	dir := t.TempDir()
	write := func(release string) string {
		body := strings.Replace(harness.HelloSpec(hello, 1, release, harness.Rolling), "progressDeadline: 30s", "progressDeadline: 10s", 1)
		p := filepath.Join(dir, "v"+release+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if out, err := s.Tend("deploy", "-f", write("1")); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	// a quota of one pod, used up (written into its status as the quota controller, which
	// this control plane does not run, would)
	quota := map[string]any{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": map[string]any{"name": "pods", "namespace": "apps"},
		"spec": map[string]any{"hard": map[string]any{"pods": "1"}}}
	if code, body, err := c.apply(quota, false); err != nil || code >= 300 {
		t.Fatalf("create the quota: %d %v\n%s", code, err, body)
	}
	used := `{"status":{"hard":{"pods":"1"},"used":{"pods":"1"}}}`
	if code, body, err := c.do("PATCH", "/api/v1/namespaces/apps/resourcequotas/pods/status", "application/merge-patch+json", []byte(used)); err != nil || code >= 300 {
		t.Fatalf("use the quota up: %d %v\n%s", code, err, body)
	}
	out, err := s.Tend("deploy", "-f", write("2"))
	if code := harness.ExitCode(err); code != 2 {
		t.Fatalf("deploy of refused pods: exit %d, want 2:\n%s", code, out)
	}
	t.Logf("tend deploy said:\n%s", out)
	for _, want := range []string{"progressDeadline", "Deployment hello-r2", "FailedCreate", "quota"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failed deploy does not say %q:\n%s", want, out)
		}
	}
	st, err := s.Status("hello")
	if err != nil {
		t.Fatal(err)
	}
	if st.Rollout.Stable != 1 || st.Rollout.Phase != "RolledBack" {
		t.Errorf("stable %d phase %s, want 1 RolledBack", st.Rollout.Stable, st.Rollout.Phase)
	}
	if _, rev, _, err := s.Get(http.DefaultClient, "/"); err != nil || rev != "1" {
		t.Errorf("the gateway answers with revision %q (%v), want 1", rev, err)
	}
}

// TestServerOnAMissingNamespaceSaysSo: tend server on a namespace that does not exist
// stops at once and says how to fix it; no --registry is a configuration error (exit 4).
func TestServerOnAMissingNamespaceSaysSo(t *testing.T) {
	c := startCluster(t)
	bin, _ := tend(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--namespace", "nope", "--registry", "127.0.0.1:1/tend"}, 1, `namespace "nope" does not exist`},
		{[]string{"--namespace", "default"}, 4, "--runtime kubernetes needs --registry"},
	} {
		api, _ := harness.FreeAddr()
		gw, _ := harness.FreeAddr()
		args := append([]string{"server", "--data", t.TempDir(), "--api", api, "--gateway", gw,
			"--runtime", "kubernetes", "--kubeconfig", c.Kubeconfig}, tc.args...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		cancel()
		if code := harness.ExitCode(err); code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("tend server %v: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.want, tail(string(out), 2048))
		}
	}
}

package kube

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestPodsReadTheirRevisionsSecretsAndFiles: on the Kubernetes runtime each revision's
// pods read its secrets (variables and a file) from an immutable Secret of its own and
// its config file from an immutable ConfigMap of its own, both owned by its Deployment;
// a new secret version is a new revision with a new Secret, a rollback gives the pods
// the old value again, and removing a secret that only a stopped revision used deletes
// that revision's Deployment, Secret and ConfigMap.
func TestPodsReadTheirRevisionsSecretsAndFiles(t *testing.T) {
	s, c := startTend(t, "kubernetes")
	dir := t.TempDir()
	set := func(name, value string) {
		t.Helper()
		f := filepath.Join(dir, "value")
		if err := os.WriteFile(f, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := s.Tend("secret", "set", "shop", name, "--from-file", f); err != nil {
			t.Fatalf("tend secret set shop %s: %v\n%s", name, err, out)
		}
	}
	set("db-url", "postgres://first")
	set("tls-key", "-----KEY-----\n")
	set("EXTRA", "extra")
	if err := os.WriteFile(filepath.Join(dir, "production.yaml"), []byte("database: {pool: 10}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := goruntime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "e2e", "testdata", "envreport")
	deploy := func(extra string) {
		t.Helper()
		p := filepath.Join(dir, "tend.yaml")
		body := fmt.Sprintf(`app: shop
build: {main: %s}
instances: 1
env:
  REPORT_VARS: DATABASE_URL,EXTRA,TEND_REVISION
  REPORT_FILES: config/production.yaml,certs/key.pem
  DATABASE_URL: {secret: db-url}
files:
- {path: config/production.yaml, from: ./production.yaml}
- {path: certs/key.pem, secret: tls-key}
health:
  readiness: {http: /ready, interval: 1s}
strategy: {rollbackWindow: 1ms, progressDeadline: 60s}
%s`, src, extra)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := s.Tend("deploy", "-f", p); err != nil {
			t.Fatalf("tend deploy: %v\n%s", err, out)
		}
	}
	// served waits until the gateway answers from revision rev and returns what its pod was given
	served := func(rev string) map[string]string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			code, _, body, err := s.Get(http.DefaultClient, "/")
			var report map[string]string
			if err == nil && code == 200 && json.Unmarshal([]byte(body), &report) == nil && report["TEND_REVISION"] == rev {
				return report
			}
			if time.Now().After(deadline) {
				t.Fatalf("the gateway does not answer from revision %s: %d %v %s", rev, code, err, body)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	get := func(resource, name string, into any) int {
		t.Helper()
		code, body, err := c.do("GET", "/api/v1/namespaces/apps/"+resource+"/"+name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if code == 200 {
			if err := json.Unmarshal([]byte(body), into); err != nil {
				t.Fatal(err)
			}
		}
		return code
	}

	deploy("")
	got := served("1")
	if got["DATABASE_URL"] != "postgres://first" || got["file:config/production.yaml"] != "database: {pool: 10}\n" ||
		got["mode:config/production.yaml"] != "-r--r--r--" || got["file:certs/key.pem"] != "-----KEY-----\n" || got["mode:certs/key.pem"] != "-r--------" {
		t.Errorf("revision 1's pod was given %q", got)
	}
	var sec corev1.Secret
	if code := get("secrets", "shop-r1", &sec); code != 200 {
		t.Fatalf("GET Secret shop-r1: %d", code)
	}
	if sec.Immutable == nil || !*sec.Immutable || string(sec.Data["db-url"]) != "postgres://first" || len(sec.Data) != 2 ||
		len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Kind != "Deployment" || sec.OwnerReferences[0].Name != "shop-r1" {
		t.Errorf("Secret shop-r1: immutable %v, keys %d, owners %+v", sec.Immutable, len(sec.Data), sec.OwnerReferences)
	}
	var cm corev1.ConfigMap
	if code := get("configmaps", "shop-r1", &cm); code != 200 || cm.Immutable == nil || !*cm.Immutable || cm.Data["config_production.yaml"] == "" {
		t.Errorf("ConfigMap shop-r1: %d immutable %v data %v", code, cm.Immutable, cm.Data)
	}

	set("db-url", "postgres://second")
	deploy("secrets: [EXTRA]\n")
	if got := served("2"); got["DATABASE_URL"] != "postgres://second" || got["EXTRA"] != "extra" {
		t.Errorf("revision 2's pod was given %q", got)
	}
	if out, err := s.Tend("rollback", "shop", "--to", "1"); err != nil {
		t.Fatalf("tend rollback: %v\n%s", err, out)
	}
	if got := served("1"); got["DATABASE_URL"] != "postgres://first" {
		t.Errorf("after the rollback the pod was given %q, want the first value", got)
	}

	// only revision 2 used EXTRA: removing it removes what the cluster keeps of revision 2
	if out, err := s.Tend("secret", "rm", "shop", "EXTRA"); err != nil {
		t.Fatalf("tend secret rm shop EXTRA: %v\n%s", err, out)
	}
	for _, r := range []string{"secrets", "configmaps"} {
		if code := get(r, "shop-r2", &struct{}{}); code != http.StatusNotFound {
			t.Errorf("%s shop-r2 after the removal: %d, want 404", r, code)
		}
		if code := get(r, "shop-r1", &struct{}{}); code != 200 {
			t.Errorf("%s shop-r1, of the revision that serves: %d", r, code)
		}
	}
	if code, body, _ := c.do("GET", "/apis/apps/v1/namespaces/apps/deployments/shop-r2", "", nil); code != http.StatusNotFound {
		t.Errorf("Deployment shop-r2 after the removal: %d\n%s", code, tail(body, 512))
	}
	if st, err := s.Status("shop"); err != nil || st.Rollout.Stable != 1 {
		t.Errorf("status after the removal: %v %+v", err, st.Rollout)
	}
	if got := served("1"); !strings.HasPrefix(got["DATABASE_URL"], "postgres://first") {
		t.Errorf("revision 1 serves %q after the removal", got)
	}
}

package kube

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/spec"
)

// TestManifestsAreAcceptedByTheAPIServer: every object `tend export k8s` writes for the
// golden specs, with an Ingress and with a Gateway API HTTPRoute (its CRD from the
// gateway-api module tend builds them with), passes the API server's validation and admission with server-side apply,
// first with dryRun=All, then for real, and reads back as applied.
func TestManifestsAreAcceptedByTheAPIServer(t *testing.T) {
	c := startCluster(t)
	if code, body, err := c.apply(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "prod"}}, false); err != nil || code >= 300 {
		t.Fatalf("create namespace prod: %d %s %v", code, body, err)
	}
	_, file, _, _ := runtime.Caller(0)
	specs, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "..", "internal", "k8s", "testdata", "*.tend.yaml"))
	if len(specs) < 2 {
		t.Fatalf("golden specs: %v", specs)
	}
	installHTTPRouteCRD(t, c)
	type variant struct{ file, gateway string }
	var variants []variant
	for _, f := range specs {
		variants = append(variants, variant{f, ""}, variant{f, "infra/public"})
	}
	for _, v := range variants {
		app, err := spec.Load(v.file)
		if err != nil {
			t.Fatal(err)
		}
		if err := app.ReadFiles(); err != nil {
			t.Fatal(err)
		}
		stream, err := k8s.YAML(k8s.Manifests(app, k8s.Options{Image: "registry.example.com/" + app.App + ":v1", Namespace: "prod", Gateway: v.gateway}))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(stream, []byte("---\n")) {
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatal(err)
			}
			what := obj["kind"].(string) + " " + app.App
			for _, dry := range []bool{true, false} {
				code, body, err := c.apply(obj, dry)
				if err != nil || code >= 300 {
					t.Fatalf("%s (dryRun %v): %d %v\n%s", what, dry, code, err, body)
				}
			}
		}
		path, _ := resourcePath(map[string]any{"kind": "Deployment", "apiVersion": "apps/v1", "metadata": map[string]any{"name": app.App, "namespace": "prod"}})
		code, body, err := c.do("GET", path, "", nil)
		if err != nil || code != 200 {
			t.Fatalf("GET the deployment: %d %v", code, err)
		}
		for _, want := range []string{`"runAsNonRoot":true`, `"readOnlyRootFilesystem":true`, `"manager":"tend"`, `"image":"registry.example.com/` + app.App + `:v1"`} {
			if !strings.Contains(body, want) {
				t.Fatalf("the deployment as stored lacks %s:\n%s", want, body)
			}
		}
		if v.gateway != "" {
			code, body, err := c.do("GET", "/apis/gateway.networking.k8s.io/v1/namespaces/prod/httproutes/"+app.App, "", nil)
			if err != nil || code != 200 || !strings.Contains(body, `"name":"public","namespace":"infra"`) {
				t.Fatalf("GET the HTTPRoute: %d %v\n%s", code, err, body)
			}
		}
		if app.App == "shop" && v.gateway == "" {
			exportedSecretKeepsValues(t, c, app)
		}
	}
}

// exportedSecretKeepsValues: the exported Secret of shop (names, no values), applied
// again after the values were put there as tend export k8s says to, keeps them; the one
// written with --include-secrets's values holds those.
func exportedSecretKeepsValues(t *testing.T, c *cluster, app *spec.App) {
	t.Helper()
	secretOf := func(values map[string][]byte) map[string]any {
		for _, o := range k8s.Manifests(app, k8s.Options{Namespace: "prod", SecretValues: values}) {
			if sec, ok := o.(*corev1.Secret); ok {
				b, _ := json.Marshal(sec)
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatal("no Secret in the manifests")
		return nil
	}
	// kubectl create secret generic shop-secrets ... --dry-run=client -o yaml | kubectl apply --server-side --field-manager=secret-values -f -
	put := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "shop-secrets", "namespace": "prod"},
		"data": map[string]any{"db-url": base64.StdEncoding.EncodeToString([]byte("postgres://put"))}}
	b, _ := json.Marshal(put)
	if code, body, err := c.do("PATCH", "/api/v1/namespaces/prod/secrets/shop-secrets?fieldManager=secret-values", "application/apply-patch+yaml", b); err != nil || code >= 300 {
		t.Fatalf("put the values: %d %v\n%s", code, err, body)
	}
	stored := func() corev1.Secret {
		t.Helper()
		code, body, err := c.do("GET", "/api/v1/namespaces/prod/secrets/shop-secrets", "", nil)
		var s corev1.Secret
		if err != nil || code != 200 || json.Unmarshal([]byte(body), &s) != nil {
			t.Fatalf("GET the Secret: %d %v\n%s", code, err, body)
		}
		return s
	}
	if code, body, err := c.apply(secretOf(nil), false); err != nil || code >= 300 {
		t.Fatalf("apply the exported Secret again: %d %v\n%s", code, err, body)
	}
	if s := stored(); string(s.Data["db-url"]) != "postgres://put" || s.Annotations[k8s.SecretKeysAnnotation] == "" {
		t.Errorf("after the exported Secret is applied again: data %q, annotations %v", s.Data, s.Annotations)
	}
	if code, body, err := c.apply(secretOf(map[string][]byte{"db-url": []byte("postgres://included")}), false); err != nil || code >= 300 {
		t.Fatalf("apply the Secret with values: %d %v\n%s", code, err, body)
	}
	if s := stored(); string(s.Data["db-url"]) != "postgres://included" {
		t.Errorf("after the Secret with values is applied: data %q", s.Data)
	}
}

// installHTTPRouteCRD installs the Gateway API's HTTPRoute CustomResourceDefinition of the
// gateway-api module tend is built with, and waits until the API serves it.
func installHTTPRouteCRD(t *testing.T, c *cluster) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("find the gateway-api module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	if code, body, err := c.apply(crd, false); err != nil || code >= 300 {
		t.Fatalf("install the HTTPRoute CRD: %d %v\n%s", code, err, tail(body, 2048))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := c.do("GET", "/apis/gateway.networking.k8s.io/v1/httproutes", "", nil)
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API does not serve httproutes 30s after the CRD: %d %v", code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

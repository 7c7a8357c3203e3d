package kube

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/spec"
)

// TestManifestsAreAcceptedByTheAPIServer: every object `tend export k8s` writes for the
// golden specs passes the API server's validation and admission with server-side apply,
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
	for _, f := range specs {
		app, err := spec.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := k8s.YAML(k8s.Manifests(app, k8s.Options{Image: "registry.example.com/" + app.App + ":v1", Namespace: "prod"}))
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
	}
}

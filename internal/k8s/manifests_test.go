package k8s

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestManifestsMatchTheGoldenFiles: testdata/NAME.tend.yaml gives exactly
// testdata/NAME.golden.yaml (go test ./internal/k8s -update rewrites them after a
// deliberate change; read the diff).
func TestManifestsMatchTheGoldenFiles(t *testing.T) {
	specs, _ := filepath.Glob("testdata/*.tend.yaml")
	if len(specs) < 2 {
		t.Fatalf("golden specs: %v", specs)
	}
	for _, f := range specs {
		t.Run(filepath.Base(f), func(t *testing.T) {
			app, err := spec.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := YAML(Manifests(app, Options{Image: "registry.example.com/" + app.App + ":v1", Namespace: "prod"}))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := YAML(Manifests(app, Options{Image: "registry.example.com/" + app.App + ":v1", Namespace: "prod"}))
			if !bytes.Equal(got, again) {
				t.Fatal("two runs gave different YAML")
			}
			golden := strings.TrimSuffix(f, ".tend.yaml") + ".golden.yaml"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/k8s -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from what the spec gives now (-update rewrites it):\n%s", golden, got)
			}
		})
	}
}

func TestManifestsCarryTheSpec(t *testing.T) {
	app, err := spec.Load("testdata/shop.tend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := Manifests(app, Options{})
	kinds := []string{}
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	if strings.Join(kinds, " ") != "ServiceAccount ConfigMap Deployment Service Ingress PodDisruptionBudget NetworkPolicy" {
		t.Fatalf("kinds: %v", kinds)
	}
	y, _ := YAML(objs)
	for _, want := range []string{
		"image: shop:latest", "replicas: 4", "maxSurge: 25%", "maxUnavailable: 0", "minReadySeconds: 10",
		"progressDeadlineSeconds: 300", "terminationGracePeriodSeconds: 35", "seconds: 5",
		"readOnlyRootFilesystem: true", "runAsNonRoot: true", "runAsUser: 65532", "allowPrivilegeEscalation: false",
		"cpu: 500m", "memory: 256Mi", "path: /ready", "periodSeconds: 2", "initialDelaySeconds: 5",
		"prometheus.io/port: \"8080\"", "prometheus.io/path: /internal/metrics", "host: shop.example.com", "path: /api",
		"CACHE_TTL: 30s", "topologyKey: kubernetes.io/hostname", "k8s-app: kube-dns",
	} {
		if !bytes.Contains(y, []byte(want)) {
			t.Errorf("manifests lack %q", want)
		}
	}
	one, _ := spec.Parse("one.yaml", []byte("app: one\nbuild: {main: .}\ninstances: 1\n"))
	for _, o := range Manifests(one, Options{}) {
		if k := o.GetObjectKind().GroupVersionKind().Kind; k == "PodDisruptionBudget" || k == "Ingress" {
			t.Errorf("one instance and no hosts, yet a %s", k)
		}
	}
}

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

// goldenCases are the golden files: testdata/NAME.tend.yaml with options gives
// testdata/NAME[.VARIANT].golden.yaml.
func goldenCases(t *testing.T) []goldenCase {
	specs, _ := filepath.Glob("testdata/*.tend.yaml")
	if len(specs) < 2 {
		t.Fatalf("golden specs: %v", specs)
	}
	var out []goldenCase
	for _, f := range specs {
		base := strings.TrimSuffix(f, ".tend.yaml")
		out = append(out, goldenCase{spec: f, golden: base + ".golden.yaml"})
	}
	return append(out, goldenCase{spec: "testdata/shop.tend.yaml", golden: "testdata/shop.httproute.golden.yaml", gateway: "infra/public"})
}

// load reads a spec and its config files, as tend export k8s does.
func load(t *testing.T, file string) *spec.App {
	t.Helper()
	app, err := spec.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.ReadFiles(); err != nil {
		t.Fatal(err)
	}
	return app
}

type goldenCase struct{ spec, golden, gateway string }

// options are the options its golden file is written with.
func (c goldenCase) options(app *spec.App) Options {
	return Options{Image: "registry.example.com/" + app.App + ":v1", Namespace: "prod", Gateway: c.gateway}
}

// TestManifestsMatchTheGoldenFiles: each golden case's spec gives exactly its golden file
// (go test ./internal/k8s -update rewrites them after a deliberate change; read the diff).
func TestManifestsMatchTheGoldenFiles(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(filepath.Base(c.golden), func(t *testing.T) {
			app := load(t, c.spec)
			got, err := YAML(Manifests(app, c.options(app)))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := YAML(Manifests(app, c.options(app)))
			if !bytes.Equal(got, again) {
				t.Fatal("two runs gave different YAML")
			}
			if *update {
				if err := os.WriteFile(c.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(c.golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/k8s -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from what the spec gives now (-update rewrites it):\n%s", c.golden, got)
			}
		})
	}
}

func TestManifestsCarryTheSpec(t *testing.T) {
	objs := Manifests(load(t, "testdata/shop.tend.yaml"), Options{})
	kinds := []string{}
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	if strings.Join(kinds, " ") != "ServiceAccount Secret ConfigMap ConfigMap Deployment Service Ingress PodDisruptionBudget NetworkPolicy" {
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

func TestRevisionDeploymentRunsOnlyItsRevision(t *testing.T) {
	app := &spec.App{App: "hello", Env: map[string]string{"B": "2", "A": "1"}}
	d := RevisionDeployment(app, 7, 0, Options{Image: "reg/hello@sha256:abc", Namespace: "apps"})
	if d.Name != "hello-r7" || RevisionName("hello", 7) != d.Name || *d.Spec.Replicas != 0 {
		t.Fatalf("name %s replicas %d", d.Name, *d.Spec.Replicas)
	}
	sel := d.Spec.Selector.MatchLabels
	if sel[RevisionLabel] != "7" || sel["app.kubernetes.io/name"] != "hello" {
		t.Errorf("selector %v does not pick revision 7 of hello only", sel)
	}
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod template labels %v do not match the selector %v", d.Spec.Template.Labels, sel)
		}
	}
	c := d.Spec.Template.Spec.Containers[0]
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); got != "HOST,PORT,ADMIN_HOST,ADMIN_PORT,TEND_APP,A,B,TEND_REVISION,TEND_INSTANCE" {
		t.Errorf("env %s", got)
	}
	if len(c.EnvFrom) != 0 || c.Image != "reg/hello@sha256:abc" {
		t.Errorf("envFrom %v image %s: each revision carries its own env and image", c.EnvFrom, c.Image)
	}
	if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v: a template change must not take the revision down", d.Spec.Strategy)
	}
}

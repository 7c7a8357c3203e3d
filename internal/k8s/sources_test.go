package k8s

import (
	"bytes"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tendhq/tend/internal/spec"
)

const sourcesSpec = `app: shop
build: {main: .}
env: {LOG_LEVEL: info, DATABASE_URL: {secret: db-url}}
secrets: [API_KEY]
files:
  - {path: config/production.yaml, from: ./production.yaml}
  - {path: ./signing.pem, secret: signing-key}
`

func sourcesApp(t *testing.T) *spec.App {
	t.Helper()
	app, err := spec.Parse("tend.yaml", []byte(sourcesSpec))
	if err != nil {
		t.Fatal(err)
	}
	app.Files[0].Content = "db: {pool: 20}\n" // as App.ReadFiles leaves it
	return app
}

func find[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// The exported Secret names the keys the pods read and holds no value unless asked to:
// applying it keeps the values someone else put there.
func TestExportedSecretHoldsValuesOnlyWhenGiven(t *testing.T) {
	app := sourcesApp(t)
	secrets := find[*corev1.Secret](Manifests(app, Options{}))
	if len(secrets) != 1 {
		t.Fatalf("%d Secrets, want 1", len(secrets))
	}
	s := secrets[0]
	if s.Name != "shop-secrets" || s.Annotations[SecretKeysAnnotation] != "API_KEY,db-url,signing-key" || s.Data != nil || s.StringData != nil {
		t.Errorf("Secret %s: annotations %v, data %v", s.Name, s.Annotations, s.Data)
	}
	values := map[string][]byte{"API_KEY": []byte("k"), "db-url": []byte("postgres://"), "signing-key": []byte("pem")}
	s = find[*corev1.Secret](Manifests(app, Options{SecretValues: values}))[0]
	if string(s.Data["db-url"]) != "postgres://" || len(s.Data) != 3 {
		t.Errorf("Secret with values: %v", s.Data)
	}
	y, err := YAML([]runtime.Object{s})
	if err != nil {
		t.Fatal(err)
	}
	if want := "db-url: cG9zdGdyZXM6Ly8="; !bytes.Contains(y, []byte(want)) {
		t.Errorf("the Secret's YAML lacks the base64 value %q:\n%s", want, y)
	}
}

// Variables come from the Secret, config files from the ConfigMap and secret files from
// the Secret, each mounted read-only at its path under the working dir.
func TestPodsReadSecretsAndFilesFromTheirSources(t *testing.T) {
	app := sourcesApp(t)
	objs := Manifests(app, Options{})
	var files *corev1.ConfigMap
	for _, cm := range find[*corev1.ConfigMap](objs) {
		if cm.Name == "shop-files" {
			files = cm
		}
	}
	if files == nil || files.Data["config_production.yaml"] != "db: {pool: 20}\n" || len(files.Data) != 1 {
		t.Fatalf("files ConfigMap: %+v", files)
	}
	d := find[*appsv1.Deployment](objs)[0]
	checkPod(t, d.Spec.Template.Spec, Sources{Secret: "shop-secrets", Files: "shop-files"})

	rd := RevisionDeployment(app, 3, 1, Options{})
	checkPod(t, rd.Spec.Template.Spec, Sources{Secret: "shop-r3", Files: "shop-r3"})
	if s := RevisionSecret("shop", 3, "apps", nil); s.Name != "shop-r3" || s.Immutable == nil || !*s.Immutable || s.Labels[RevisionLabel] != "3" {
		t.Errorf("revision Secret %s immutable %v labels %v", s.Name, s.Immutable, s.Labels)
	}
	if cm := RevisionFiles(app, 3, "apps"); cm.Name != "shop-r3" || !*cm.Immutable || cm.Data["config_production.yaml"] == "" {
		t.Errorf("revision ConfigMap %s %v", cm.Name, cm.Data)
	}
}

func checkPod(t *testing.T, pod corev1.PodSpec, src Sources) {
	t.Helper()
	c := pod.Containers[0]
	got := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			got[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if len(got) != 2 || got["DATABASE_URL"] != src.Secret+"/db-url" || got["API_KEY"] != src.Secret+"/API_KEY" {
		t.Errorf("secret variables: %v", got)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if m.Name == "files" {
			if !m.ReadOnly {
				t.Errorf("%s is mounted writable", m.MountPath)
			}
			mounts[m.MountPath] = m.SubPath
		}
	}
	if len(mounts) != 2 || mounts["/config/production.yaml"] != "config/production.yaml" || mounts["/signing.pem"] != "signing.pem" {
		t.Errorf("mounts: %v", mounts)
	}
	if c.WorkingDir != "/" {
		t.Errorf("working dir %q: the files' paths are relative to /", c.WorkingDir)
	}
	var projected *corev1.ProjectedVolumeSource
	for _, v := range pod.Volumes {
		if v.Name == "files" {
			projected = v.Projected
		}
	}
	if projected == nil || len(projected.Sources) != 2 {
		t.Fatalf("files volume: %+v", projected)
	}
	cm, sec := projected.Sources[0].ConfigMap, projected.Sources[1].Secret
	if cm.Name != src.Files || cm.Items[0].Key != "config_production.yaml" || cm.Items[0].Path != "config/production.yaml" || *cm.Items[0].Mode != 0o444 {
		t.Errorf("config file item: %s %+v", cm.Name, cm.Items)
	}
	if sec.Name != src.Secret || sec.Items[0].Key != "signing-key" || sec.Items[0].Path != "signing.pem" || *sec.Items[0].Mode != 0o400 {
		t.Errorf("secret file item: %s %+v", sec.Name, sec.Items)
	}
	if pod.SecurityContext.FSGroup == nil || *pod.SecurityContext.FSGroup != user {
		t.Errorf("fsGroup %v: the user must be able to read its secret files", pod.SecurityContext.FSGroup)
	}
}

// Two paths whose keys would be the same get different keys.
func TestFileKeysAreUnique(t *testing.T) {
	keys := FileKeys([]spec.File{{Path: "a/b.yaml"}, {Path: "a_b.yaml"}, {Path: "x.pem", Secret: "x"}})
	if len(keys) != 2 || keys["a/b.yaml"] != "a_b.yaml" || keys["a_b.yaml"] != "a_b.yaml-2" {
		t.Errorf("keys %v", keys)
	}
}

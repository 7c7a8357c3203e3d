package k8s

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tendhq/tend/internal/spec"
)

// A variable that holds a secret comes from the app's Secret, which the manifests do
// not hold: tend never writes a value out.
func TestSecretVariablesComeFromTheAppsSecret(t *testing.T) {
	app, err := spec.Parse("tend.yaml", []byte("app: shop\nbuild: {main: .}\nenv: {LOG_LEVEL: info, DATABASE_URL: {secret: db-url}}\nsecrets: [API_KEY]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	for _, o := range Manifests(app, Options{}) {
		if _, isSecret := o.(*corev1.Secret); isSecret {
			t.Error("the manifests hold a Secret")
		}
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	got := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			got[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	if len(got) != 2 || got["DATABASE_URL"] != "shop-secrets/db-url" || got["API_KEY"] != "shop-secrets/API_KEY" {
		t.Errorf("secret variables: %v", got)
	}
}

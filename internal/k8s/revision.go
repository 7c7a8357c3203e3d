package k8s

import (
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tendhq/tend/internal/spec"
)

// RevisionLabel carries the revision number on the Deployment and the pods tend's
// Kubernetes runtime runs for one revision.
const RevisionLabel = "tend.dev/revision"

// RevisionName is the name of the Deployment that runs one revision of app.
func RevisionName(app string, revision int) string { return app + "-r" + strconv.Itoa(revision) }

// RevisionDeployment is what tend's Kubernetes runtime applies to run replicas of one
// revision: the Deployment `tend export k8s` writes, named APP-rN and selecting only its
// revision's pods, with the revision's environment inline (each revision keeps its own)
// and its secrets and files from its own Secret and ConfigMap (RevisionSources), so that
// stable and canary run side by side while tend splits the traffic.
func RevisionDeployment(app *spec.App, revision, replicas int, o Options) *appsv1.Deployment {
	meta := revisionMeta(app.App, revision, o.Namespace)
	sel := map[string]string{"app.kubernetes.io/name": app.App, RevisionLabel: strconv.Itoa(revision)}
	d := deployment(app, o, meta, sel, RevisionSources(app.App, revision))
	d.Spec.Replicas = ptr(int32(replicas))
	d.Spec.Template.Labels = maps.Clone(meta.Labels)
	// the pod template is the revision's and tend only scales it; when a newer tend
	// changes the template, the pods roll one at a time (surge one, none unavailable)
	d.Spec.RevisionHistoryLimit = ptr(int32(1))
	d.Spec.Strategy = strategy(&spec.App{})
	// spread the pods of all revisions of the app, not of this one only
	d.Spec.Template.Spec.TopologySpreadConstraints[0].LabelSelector = &metav1.LabelSelector{
		MatchLabels: map[string]string{"app.kubernetes.io/name": app.App}}
	c := &d.Spec.Template.Spec.Containers[0]
	c.EnvFrom = nil
	for _, k := range slices.Sorted(maps.Keys(app.Env)) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: app.Env[k]})
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: "TEND_REVISION", Value: strconv.Itoa(revision)},
		corev1.EnvVar{Name: "TEND_INSTANCE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
	return d
}

// revisionMeta names and labels an object of one revision.
func revisionMeta(app string, revision int, namespace string) metav1.ObjectMeta {
	meta := metav1.ObjectMeta{Name: RevisionName(app, revision), Namespace: namespace, Labels: labels(app)}
	meta.Labels[RevisionLabel] = strconv.Itoa(revision)
	return meta
}

// ServiceAccount is the account the app's pods run as, without an API token.
func ServiceAccount(app, namespace string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"),
		ObjectMeta:                   metav1.ObjectMeta{Name: app, Namespace: namespace, Labels: labels(app)},
		AutomountServiceAccountToken: ptr(false)}
}

package k8s

import (
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tendhq/tend/internal/spec"
)

// Sources names the Secret and the ConfigMap a pod reads the app's secrets (key: the
// secret's name) and config files (key: FileKeys) from.
type Sources struct{ Secret, Files string }

// ExportSources are the objects the pods of `tend export k8s` read: APP-secrets, whose
// values whoever applies the manifests provides (tend writes them only with
// --include-secrets), and APP-files.
func ExportSources(app string) Sources {
	return Sources{Secret: SecretName(app), Files: app + "-files"}
}

// SecretName is the Secret the pods of `tend export k8s` read an app's secrets from.
func SecretName(app string) string { return app + "-secrets" }

// SecretKeysAnnotation lists, on a Secret tend writes, the keys its pods read.
const SecretKeysAnnotation = "tend.dev/secret-keys"

// fileMount is where the files go: the working dir the container is given when it has
// files, so that the spec's relative paths mean the same as for a process.
const fileMount = "/"

// Modes of the files in a pod: a config file is anyone's to read; a secret file the
// owner's, which the kubelet makes root with the pod's fsGroup (user's group) able to
// read, as it does for every file of a Secret volume when the pod has an fsGroup.
const (
	configFileMode = 0o444
	secretFileMode = 0o400
)

// secretEnv gives each variable that holds a secret from the Secret.
func secretEnv(app *spec.App, secret string) []corev1.EnvVar {
	vars := app.SecretVars()
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: vars[k]}}})
	}
	return out
}

var notKeyChar = regexp.MustCompile(`[^-._a-zA-Z0-9]`)

// FileKeys is the ConfigMap key of each of app's config files (files: from), by path: the
// path with each character a key may not have as '_', made unique with -2, -3, ....
func FileKeys(files []spec.File) map[string]string {
	out := map[string]string{}
	taken := map[string]bool{}
	for _, f := range files {
		if f.Secret != "" {
			continue
		}
		base := notKeyChar.ReplaceAllString(filePath(f.Path), "_")
		key := base
		for n := 2; taken[key]; n++ {
			key = base + "-" + strconv.Itoa(n)
		}
		taken[key] = true
		out[f.Path] = key
	}
	return out
}

// filePath is a file's path in the container, relative to its working dir, with slashes.
func filePath(p string) string { return path.Clean(filepath.ToSlash(p)) }

// FilesData is the ConfigMap content of app's config files: text as data, anything that
// is not UTF-8 as binaryData.
func FilesData(files []spec.File) (data map[string]string, binary map[string][]byte) {
	keys := FileKeys(files)
	for _, f := range files {
		key, ok := keys[f.Path]
		if !ok {
			continue
		}
		if utf8.ValidString(f.Content) {
			if data == nil {
				data = map[string]string{}
			}
			data[key] = f.Content
			continue
		}
		if binary == nil {
			binary = map[string][]byte{}
		}
		binary[key] = []byte(f.Content)
	}
	return data, binary
}

// addFiles mounts app's files into the pod's container, read-only, one subPath mount
// per file from a projected volume of the ConfigMap and the Secret, and makes the
// container's working dir the one the paths are relative to.
func addFiles(app *spec.App, pod *corev1.PodSpec, src Sources) {
	if len(app.Files) == 0 {
		return
	}
	keys := FileKeys(app.Files)
	var config, secret []corev1.KeyToPath
	c := &pod.Containers[0]
	for _, f := range app.Files {
		p := filePath(f.Path)
		if f.Secret != "" {
			secret = append(secret, corev1.KeyToPath{Key: f.Secret, Path: p, Mode: ptr(int32(secretFileMode))})
		} else {
			config = append(config, corev1.KeyToPath{Key: keys[f.Path], Path: p, Mode: ptr(int32(configFileMode))})
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "files", MountPath: path.Join(fileMount, p), SubPath: p, ReadOnly: true})
	}
	var sources []corev1.VolumeProjection
	if len(config) > 0 {
		sources = append(sources, corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: src.Files}, Items: config}})
	}
	if len(secret) > 0 {
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: src.Secret}, Items: secret}})
		pod.SecurityContext.FSGroup = ptr(int64(user))
	}
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{Sources: sources, DefaultMode: ptr(int32(configFileMode))}}})
	c.WorkingDir = fileMount
}

// exportSecret is the Secret the exported pods read: the keys they read in an
// annotation and, only when values is not nil, the values. Without values it owns no
// data, so that applying it keeps what `kubectl create secret` (or another field
// manager) put there.
func exportSecret(app *spec.App, meta metav1.ObjectMeta, values map[string][]byte) *corev1.Secret {
	names := app.SecretNames()
	meta.Annotations = map[string]string{SecretKeysAnnotation: strings.Join(names, ",")}
	return &corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: values}
}

// exportFiles is the ConfigMap of the app's config files.
func exportFiles(app *spec.App, meta metav1.ObjectMeta) *corev1.ConfigMap {
	data, binary := FilesData(app.Files)
	return &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta, Data: data, BinaryData: binary}
}

// RevisionSecret is the immutable Secret of one revision's secret values (key: the
// secret's name), which tend's Kubernetes runtime makes before the revision's pods.
func RevisionSecret(app string, revision int, namespace string, values map[string][]byte) *corev1.Secret {
	return &corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: revisionMeta(app, revision, namespace),
		Type: corev1.SecretTypeOpaque, Data: values, Immutable: ptr(true)}
}

// RevisionFiles is the immutable ConfigMap of one revision's config files.
func RevisionFiles(app *spec.App, revision int, namespace string) *corev1.ConfigMap {
	data, binary := FilesData(app.Files)
	return &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: revisionMeta(app.App, revision, namespace),
		Data: data, BinaryData: binary, Immutable: ptr(true)}
}

// RevisionSources are the objects one revision's pods read: both named as its Deployment.
func RevisionSources(app string, revision int) Sources {
	return Sources{Secret: RevisionName(app, revision), Files: RevisionName(app, revision)}
}

// HasConfigFiles says whether any of the files is a config file (from a ConfigMap).
func HasConfigFiles(files []spec.File) bool {
	return slices.ContainsFunc(files, func(f spec.File) bool { return f.Secret == "" })
}

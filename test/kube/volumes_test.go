package kube

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// dir is the fake node's directory of the pod: its log and its container's root.
func (r *podRun) dir() string { return filepath.Join(r.k.dir, "pods", string(r.pod.UID)) }

// root stands for the container's root filesystem.
func (r *podRun) root() string { return filepath.Join(r.dir(), "root") }

// prepare makes the container's root with its volume mounts and resolves its
// environment, reading the Secrets and ConfigMaps they name as the kubelet does.
func (r *podRun) prepare(ctx context.Context, c corev1.Container) ([]string, error) {
	env := []string{"PATH=/usr/bin:/bin"}
	for _, e := range c.Env {
		v, err := r.value(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		env = append(env, e.Name+"="+v)
	}
	if err := os.RemoveAll(r.root()); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(r.root(), c.WorkingDir), 0o755); err != nil {
		return nil, err
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range r.pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s: no volume of that name", m.Name)
		}
		if err := r.mount(ctx, v, m); err != nil {
			return nil, fmt.Errorf("volume %s at %s: %w", m.Name, m.MountPath, err)
		}
	}
	return env, nil
}

// value is one variable's value.
func (r *podRun) value(ctx context.Context, e corev1.EnvVar) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return e.Value, nil
	case from.FieldRef != nil:
		switch from.FieldRef.FieldPath {
		case "status.podIP":
			return r.ip, nil
		case "metadata.name":
			return r.pod.Name, nil
		case "metadata.namespace":
			return r.pod.Namespace, nil
		}
		return "", fmt.Errorf("field %s is not known to the fake kubelet", from.FieldRef.FieldPath)
	case from.SecretKeyRef != nil:
		b, err := r.secretKey(ctx, from.SecretKeyRef.Name, from.SecretKeyRef.Key)
		return string(b), err
	case from.ConfigMapKeyRef != nil:
		b, err := r.configMapKey(ctx, from.ConfigMapKeyRef.Name, from.ConfigMapKeyRef.Key)
		return string(b), err
	}
	return "", fmt.Errorf("valueFrom %+v is not known to the fake kubelet", from)
}

func (r *podRun) secretKey(ctx context.Context, name, key string) ([]byte, error) {
	s, err := r.k.core.Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", key, r.pod.Namespace, name)
	}
	return v, nil
}

func (r *podRun) configMapKey(ctx context.Context, name, key string) ([]byte, error) {
	cm, err := r.k.core.ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("configmap %q: %w", name, err)
	}
	if v, ok := cm.Data[key]; ok {
		return []byte(v), nil
	}
	if v, ok := cm.BinaryData[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", key, r.pod.Namespace, name)
}

// mount writes a volume's files where the container sees them: an emptyDir is a
// directory; a projected volume's items go under the mount path, or the one item at
// SubPath goes at the mount path.
func (r *podRun) mount(ctx context.Context, v corev1.Volume, m corev1.VolumeMount) error {
	at := filepath.Join(r.root(), m.MountPath)
	if !strings.HasPrefix(at, r.root()+string(filepath.Separator)) {
		return fmt.Errorf("mount path %s leaves the container", m.MountPath)
	}
	switch {
	case v.EmptyDir != nil:
		return os.MkdirAll(at, 0o777)
	case v.Projected == nil:
		return fmt.Errorf("only emptyDir and projected volumes are known to the fake kubelet")
	}
	mode := int32(0o644)
	if v.Projected.DefaultMode != nil {
		mode = *v.Projected.DefaultMode
	}
	found := false
	for _, src := range v.Projected.Sources {
		var items []corev1.KeyToPath
		var read func(key string) ([]byte, error)
		switch {
		case src.Secret != nil:
			items, read = src.Secret.Items, func(key string) ([]byte, error) { return r.secretKey(ctx, src.Secret.Name, key) }
		case src.ConfigMap != nil:
			items, read = src.ConfigMap.Items, func(key string) ([]byte, error) { return r.configMapKey(ctx, src.ConfigMap.Name, key) }
		default:
			return fmt.Errorf("projected source %+v is not known to the fake kubelet", src)
		}
		for _, it := range items {
			to := filepath.Join(at, it.Path)
			if m.SubPath != "" {
				if path.Clean(it.Path) != path.Clean(m.SubPath) {
					continue
				}
				to = at
			}
			found = true
			b, err := read(it.Key)
			if err != nil {
				return err
			}
			itemMode := mode
			if it.Mode != nil {
				itemMode = *it.Mode
			}
			if err := writeFile(to, b, os.FileMode(itemMode)); err != nil {
				return err
			}
		}
	}
	if m.SubPath != "" && !found {
		return fmt.Errorf("subPath %s is no item of the volume", m.SubPath)
	}
	return nil
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
)

// sources makes the immutable Secret (the values of the secret versions the revision
// was deployed with) and ConfigMap (its config files) that a revision's pods read, once
// per revision: their content never changes, so a rollback finds them as they were.
// It returns the kinds it made, to be owned by the revision's Deployment.
func (c *Cluster) sources(ctx context.Context, set runtime.Set, app *spec.App) ([]string, error) {
	var made []string
	if versions := set.SecretVersions(); len(versions) > 0 {
		if c.o.Secrets == nil {
			return nil, fmt.Errorf("revision %d of %s uses secrets, and this server keeps none", set.Revision, set.App)
		}
		values, err := c.o.Secrets(ctx, set.App, versions)
		if err != nil {
			return nil, fmt.Errorf("open the secrets of revision %d of %s: %w", set.Revision, set.App, err)
		}
		s := k8s.RevisionSecret(set.App, set.Revision, c.o.Namespace, values)
		same := func(have k8sruntime.Object) bool {
			return maps.EqualFunc(have.(*corev1.Secret).Data, values, bytes.Equal)
		}
		if err := c.createImmutable(ctx, "secrets", s.Name, s, &corev1.Secret{}, same); err != nil {
			return nil, err
		}
		made = append(made, "secrets")
	}
	if k8s.HasConfigFiles(app.Files) {
		cm := k8s.RevisionFiles(app, set.Revision, c.o.Namespace)
		same := func(have k8sruntime.Object) bool {
			h := have.(*corev1.ConfigMap)
			return maps.Equal(h.Data, cm.Data) && maps.EqualFunc(h.BinaryData, cm.BinaryData, bytes.Equal)
		}
		if err := c.createImmutable(ctx, "configmaps", cm.Name, cm, &corev1.ConfigMap{}, same); err != nil {
			return nil, err
		}
		made = append(made, "configmaps")
	}
	return made, nil
}

// createImmutable creates obj. One of that name that is already there is kept when
// same says its content is obj's, and replaced when not: left by another data dir's
// revision of that number (an immutable object cannot be changed in place).
func (c *Cluster) createImmutable(ctx context.Context, resource, name string, obj k8sruntime.Object, have k8sruntime.Object, same func(k8sruntime.Object) bool) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	for range 2 {
		err = c.api.create(ctx, resource, body)
		if !apierrors.IsAlreadyExists(err) {
			break
		}
		if err = c.api.get(ctx, resource, name, have); err != nil {
			break
		}
		if same(have) {
			return nil
		}
		c.log.Warn("replacing an object of another revision of the same number", "resource", resource, "name", name)
		if err = c.api.delete(ctx, resource, name); err != nil && !apierrors.IsNotFound(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create %s %s/%s: %w", resource, c.o.Namespace, name, err)
	}
	return nil
}

// own makes the revision's Deployment the owner of its Secret and ConfigMap, so that the
// cluster's garbage collector deletes them with it, whoever deletes it.
func (c *Cluster) own(ctx context.Context, d *appsv1.Deployment, resources []string) error {
	ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{ref}}})
	if err != nil {
		return err
	}
	for _, r := range resources {
		if err := c.api.patch(ctx, r, d.Name, body); err != nil {
			return fmt.Errorf("make Deployment %s the owner of its %s: %w", d.Name, r, err)
		}
	}
	return nil
}

// Forget deletes what the cluster keeps of a revision that tend pruned: its Deployment
// (scaled to zero: it runs nothing), Secret and ConfigMap.
func (c *Cluster) Forget(ctx context.Context, app string, revision int) error {
	name := k8s.RevisionName(app, revision)
	for _, r := range []string{"deployments", "secrets", "configmaps"} {
		if err := c.api.delete(ctx, r, name); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s/%s of pruned revision %d: %w", r, c.o.Namespace, name, revision, err)
		}
	}
	c.mu.Lock()
	delete(c.sourcesOK, name)
	c.mu.Unlock()
	return nil
}

package kubernetes

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// client reaches the few resources the runtime uses (namespaces, pods, service accounts,
// deployments, secrets, config maps) with REST clients over a scheme of the core and apps groups only:
// client-go's typed clients would link every API group of Kubernetes into tend.
type client struct {
	core, apps *rest.RESTClient
	namespace  string
}

var codecs = func() serializer.CodecFactory {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // a programming error: the groups register once, statically
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return serializer.NewCodecFactory(s)
}()

func newClient(cfg *rest.Config, namespace string) (*client, error) {
	rc := func(gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
		c := rest.CopyConfig(cfg)
		c.GroupVersion, c.APIPath = &gv, apiPath
		c.NegotiatedSerializer = codecs.WithoutConversion()
		if c.UserAgent == "" {
			c.UserAgent = rest.DefaultKubernetesUserAgent()
		}
		return rest.RESTClientFor(c)
	}
	core, err := rc(corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	apps, err := rc(appsv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &client{core: core, apps: apps, namespace: namespace}, nil
}

// rest is the client of a resource's group.
func (c *client) rest(resource string) *rest.RESTClient {
	if resource == "deployments" {
		return c.apps
	}
	return c.core
}

// get reads one object of the namespace (namespaces themselves have none) into into.
func (c *client) get(ctx context.Context, resource, name string, into k8sruntime.Object) error {
	req := c.rest(resource).Get().Resource(resource).Name(name)
	if resource != "namespaces" {
		req = req.Namespace(c.namespace)
	}
	return c.explain(req.Do(ctx).Into(into), "get", resource)
}

// list reads the objects of the namespace that match a label selector.
func (c *client) list(ctx context.Context, resource, selector string, into k8sruntime.Object) error {
	err := c.rest(resource).Get().Namespace(c.namespace).Resource(resource).
		VersionedParams(&metav1.ListOptions{LabelSelector: selector}, metav1.ParameterCodec).Do(ctx).Into(into)
	return c.explain(err, "list", resource)
}

// apply sends obj with server-side apply as tend's field manager, taking over conflicts,
// and reads the object as applied into into (nil: not read).
func (c *client) apply(ctx context.Context, resource, name string, obj []byte, into k8sruntime.Object) error {
	res := c.rest(resource).Patch(types.ApplyPatchType).Namespace(c.namespace).Resource(resource).Name(name).
		Param("fieldManager", fieldManager).Param("force", "true").Body(obj).Do(ctx)
	err := res.Error()
	if err == nil && into != nil {
		err = res.Into(into)
	}
	return c.explain(err, "patch", resource)
}

// create creates one object of the namespace.
func (c *client) create(ctx context.Context, resource string, obj []byte) error {
	err := c.rest(resource).Post().Namespace(c.namespace).Resource(resource).
		Param("fieldManager", fieldManager).Body(obj).Do(ctx).Error()
	return c.explain(err, "create", resource)
}

// patch sends a JSON merge patch.
func (c *client) patch(ctx context.Context, resource, name string, body []byte) error {
	err := c.rest(resource).Patch(types.MergePatchType).Namespace(c.namespace).Resource(resource).Name(name).
		Param("fieldManager", fieldManager).Body(body).Do(ctx).Error()
	return c.explain(err, "patch", resource)
}

// delete deletes one object gracefully.
func (c *client) delete(ctx context.Context, resource, name string) error {
	return c.explain(c.rest(resource).Delete().Namespace(c.namespace).Resource(resource).Name(name).Do(ctx).Error(), "delete", resource)
}

// explain adds to a refused request the permission the kubeconfig's user lacks.
func (c *client) explain(err error, verb, resource string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: the kubeconfig's user needs a Role in namespace %s allowing get, list, watch, create, patch and delete on pods, deployments, serviceaccounts, secrets and configmaps (here: %s %s)", err, c.namespace, verb, resource)
	}
	return err
}

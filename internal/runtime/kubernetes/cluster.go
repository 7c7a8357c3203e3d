// Package kubernetes runs instances as pods of one Deployment per revision on a Kubernetes cluster, applied with server-side apply and followed through the pods' conditions.
package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

var (
	_ runtime.Runtime   = (*Cluster)(nil)
	_ runtime.Explainer = (*Cluster)(nil)
	_ runtime.Forgetter = (*Cluster)(nil)
)

// fieldManager owns the fields tend applies.
const fieldManager = "tend"

// resync is how often every pod's registration is checked again.
const resync = 30 * time.Second

// managedBy selects every object tend's runtime made.
const managedBy = "app.kubernetes.io/managed-by=tend"

// Options configure a Cluster.
type Options struct {
	// Kubeconfig is the kubeconfig file ("": the in-cluster config, or $KUBECONFIG).
	Kubeconfig string
	// Namespace the apps run in; it must exist.
	Namespace string
	Store     *store.Store
	Logger    *slog.Logger
	// Secrets opens the given versions (name → version) of an app's secrets, for the
	// Secret of a revision that uses them.
	Secrets func(ctx context.Context, app string, versions map[string]int) (map[string][]byte, error)
}

// Cluster is the Kubernetes runtime. A revision's instances are the pods of its
// Deployment (APP-rN); Apply sets the Deployment's replicas with server-side apply, the
// Deployment and ReplicaSet controllers make the pods, and the kubelet runs them. A pod
// informer follows them: ready pods go into tend's service registry (where the gateway
// finds them), pods that stop being ready or start terminating leave it at once.
type Cluster struct {
	o   Options
	log *slog.Logger

	api       *client
	informer  cache.SharedIndexInformer // pods
	revisions cache.SharedIndexInformer // Deployments
	stop      chan struct{}
	closing   sync.Once
	done      chan struct{}

	mu         sync.Mutex
	registered map[string]string // pod name → registry key
	wasReady   map[string]bool   // pods that have been ready once
	accountsOK map[string]bool   // apps whose ServiceAccount is applied
	sourcesOK  map[string]bool   // revisions (APP-rN) whose Secret and ConfigMap are made and owned
	subs       runtime.Subscribers
}

// New connects to the cluster, checks the namespace, and starts following tend's pods in
// it; it returns once it has listed them.
func New(ctx context.Context, o Options) (*Cluster, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return nil, err
	}
	api, err := newClient(cfg, o.Namespace)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	if err := api.get(ctx, "namespaces", o.Namespace, &corev1.Namespace{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %q does not exist on %s: create it (kubectl create namespace %s) or choose another with --namespace", o.Namespace, cfg.Host, o.Namespace)
		}
		return nil, fmt.Errorf("reach the Kubernetes API at %s (check --kubeconfig and that the cluster is up): %w", cfg.Host, err)
	}
	c := &Cluster{o: o, log: o.Logger, api: api,
		stop: make(chan struct{}), done: make(chan struct{}),
		registered: map[string]string{}, wasReady: map[string]bool{}, accountsOK: map[string]bool{}, sourcesOK: map[string]bool{}}
	lw := cache.NewFilteredListWatchFromClient(api.core, "pods", o.Namespace, func(opts *metav1.ListOptions) {
		opts.LabelSelector = managedBy
	})
	// every pod is looked at again every resync: a registry write that failed is retried
	c.informer = cache.NewSharedIndexInformer(lw, &corev1.Pod{}, resync, cache.Indexers{})
	_, err = c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.changed(obj, false) },
		UpdateFunc: func(_, obj any) { c.changed(obj, false) },
		DeleteFunc: func(obj any) { c.changed(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("follow pods: %w", err)
	}
	// the revisions' Deployments, for what their conditions say when pods are refused
	dlw := cache.NewFilteredListWatchFromClient(api.apps, "deployments", o.Namespace, func(opts *metav1.ListOptions) {
		opts.LabelSelector = managedBy + "," + k8s.RevisionLabel
	})
	c.revisions = cache.NewSharedIndexInformer(dlw, &appsv1.Deployment{}, 0, cache.Indexers{})
	var running sync.WaitGroup
	for _, inf := range []cache.SharedIndexInformer{c.informer, c.revisions} {
		running.Go(func() { inf.Run(c.stop) })
	}
	go func() { running.Wait(); close(c.done) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), c.informer.HasSynced, c.revisions.HasSynced) {
		close(c.stop)
		<-c.done
		return nil, fmt.Errorf("list the pods and deployments in namespace %s on %s within a minute: is the API server reachable and may the kubeconfig's user list and watch them?", o.Namespace, cfg.Host)
	}
	c.log.Info("kubernetes runtime ready", "api", cfg.Host, "namespace", o.Namespace, "pods", len(c.informer.GetStore().List()))
	return c, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load the kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = "tend"
	return cfg, nil
}

// Apply scales the revision's Deployment to set.Replicas, creating it the first time,
// after the revision's Secret and ConfigMap. Scaling to zero creates nothing: a revision
// whose Deployment is gone (forgotten) stays gone.
func (c *Cluster) Apply(ctx context.Context, set runtime.Set) error {
	name := k8s.RevisionName(set.App, set.Revision)
	if set.Replicas == 0 {
		err := c.api.patch(ctx, "deployments", name, []byte(`{"spec":{"replicas":0}}`))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("scale Deployment %s/%s to 0: %w", c.o.Namespace, name, err)
		}
		return nil
	}
	if err := c.ensureAccount(ctx, set.App); err != nil {
		return err
	}
	app := appOf(set.Template)
	c.mu.Lock()
	fresh := !c.sourcesOK[name]
	c.mu.Unlock()
	var made []string
	if fresh {
		var err error
		if made, err = c.sources(ctx, set, app); err != nil {
			return err
		}
	}
	d := k8s.RevisionDeployment(app, set.Revision, set.Replicas, k8s.Options{Image: set.Artifact, Namespace: c.o.Namespace})
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	applied := &appsv1.Deployment{}
	if err := c.api.apply(ctx, "deployments", d.Name, body, applied); err != nil {
		return fmt.Errorf("apply Deployment %s/%s with %d replicas: %w", c.o.Namespace, d.Name, set.Replicas, err)
	}
	if fresh {
		if err := c.own(ctx, applied, made); err != nil {
			return err
		}
		c.mu.Lock()
		c.sourcesOK[name] = true
		c.mu.Unlock()
	}
	return nil
}

// appOf is the part of a spec a revision's pods are made from.
func appOf(t runtime.Template) *spec.App {
	app := &spec.App{App: t.App, Env: t.Env, Health: t.Health, Resources: t.Resources, Shutdown: t.Shutdown}
	for k, ref := range t.Secrets {
		if app.SecretEnv == nil {
			app.SecretEnv = map[string]string{}
		}
		app.SecretEnv[k] = ref.Name
	}
	for _, f := range t.Files {
		file := spec.File{Path: f.Path, Content: f.Content}
		if f.Secret != nil {
			file.Secret = f.Secret.Name
		}
		app.Files = append(app.Files, file)
	}
	app.Metrics.Path = "/metrics"
	app.Strategy.ProgressDeadline = 10 * time.Minute
	return app
}

func (c *Cluster) ensureAccount(ctx context.Context, app string) error {
	c.mu.Lock()
	ok := c.accountsOK[app]
	c.mu.Unlock()
	if ok {
		return nil
	}
	body, err := json.Marshal(k8s.ServiceAccount(app, c.o.Namespace))
	if err != nil {
		return err
	}
	if err := c.api.apply(ctx, "serviceaccounts", app, body, nil); err != nil {
		return fmt.Errorf("apply ServiceAccount %s/%s: %w", c.o.Namespace, app, err)
	}
	c.mu.Lock()
	c.accountsOK[app] = true
	c.mu.Unlock()
	return nil
}

// deployment is a revision's Deployment as the informer last saw it.
func (c *Cluster) deployment(name string) (*appsv1.Deployment, bool) {
	obj, ok, err := c.revisions.GetStore().GetByKey(c.o.Namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*appsv1.Deployment), true
}

func (c *Cluster) pod(name string) (*corev1.Pod, bool) {
	obj, ok, err := c.informer.GetStore().GetByKey(c.o.Namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*corev1.Pod), true
}

// Explain reports a revision's Deployment failing to make pods (its ReplicaFailure
// condition: a quota, an admission webhook, a missing ServiceAccount).
func (c *Cluster) Explain(app string, revision int) string {
	d, ok := c.deployment(k8s.RevisionName(app, revision))
	if !ok {
		return ""
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
			return "Deployment " + d.Name + ": " + cond.Reason + ": " + cond.Message
		}
	}
	return ""
}

// Instances lists app's pods as the informer last saw them.
func (c *Cluster) Instances(app string) []runtime.Instance {
	var out []runtime.Instance
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, obj := range c.informer.GetStore().List() {
		pod := obj.(*corev1.Pod)
		if app != "" && pod.Labels["app.kubernetes.io/name"] != app {
			continue
		}
		if _, ok := pod.Labels[k8s.RevisionLabel]; !ok || finished(pod) {
			continue // a pod of `tend export k8s` manifests, or one that ended for good (evicted)
		}
		out = append(out, instanceOf(pod, c.wasReady[pod.Name]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Subscribe returns a channel that gets the app name whenever one of its instances changes.
func (c *Cluster) Subscribe() (<-chan string, func()) { return c.subs.Subscribe() }

// Close stops following the pods. With stopInstances every revision is scaled to zero,
// the pods leave the registry and Close waits (within ctx) until they are gone; without,
// they keep serving and the next server finds them.
func (c *Cluster) Close(ctx context.Context, stopInstances bool) error {
	var err error
	if stopInstances {
		err = c.stopAll(ctx)
	}
	c.closing.Do(func() { close(c.stop) })
	<-c.done
	return err
}

func (c *Cluster) stopAll(ctx context.Context) error {
	var list appsv1.DeploymentList
	if err := c.api.list(ctx, "deployments", managedBy+","+k8s.RevisionLabel, &list); err != nil {
		return fmt.Errorf("list tend's Deployments: %w", err)
	}
	var errs []error
	for _, d := range list.Items {
		if err := c.api.patch(ctx, "deployments", d.Name, []byte(`{"spec":{"replicas":0}}`)); err != nil {
			errs = append(errs, fmt.Errorf("scale %s to 0: %w", d.Name, err))
		}
	}
	for len(c.Instances("")) > 0 && len(errs) == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pods still terminating: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.Join(errs...)
}

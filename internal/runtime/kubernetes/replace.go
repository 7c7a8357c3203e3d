package kubernetes

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/util/retry"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/runtime"
)

// deletionCost is the annotation the ReplicaSet controller reads to choose which pod
// goes first when it scales down.
const deletionCost = "controller.kubernetes.io/pod-deletion-cost"

// Replace makes pod id the first to go, adds a replica, waits until one more pod of the
// revision is ready, and takes the replica away again: the ReplicaSet controller then
// deletes id, whose termination (preStop drain, SIGTERM, grace) the kubelet runs. A pod
// that is not ready is deleted at once: it serves nothing, and the ReplicaSet replaces it.
func (c *Cluster) Replace(ctx context.Context, app, id string) error {
	pod, ok := c.pod(id)
	if !ok || pod.Labels["app.kubernetes.io/name"] != app {
		return fmt.Errorf("no instance %s of %s", id, app)
	}
	if !podReady(pod) {
		if err := c.api.delete(ctx, "pods", id); err != nil {
			return fmt.Errorf("delete pod %s: %w", id, err)
		}
		return nil
	}
	rev, _ := strconv.Atoi(pod.Labels[k8s.RevisionLabel])
	name := k8s.RevisionName(app, rev)
	others := c.readyOf(app, rev, id)
	mark := func(ctx context.Context, cost string) error {
		return c.api.patch(ctx, "pods", id, fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%s}}}`, deletionCost, cost))
	}
	if err := mark(ctx, `"-1000000"`); err != nil {
		return fmt.Errorf("mark pod %s to go first: %w", id, err)
	}
	if err := c.scaleBy(ctx, name, +1); err != nil {
		_ = mark(context.WithoutCancel(ctx), "null")
		return err
	}
	// the ReplicaSet controller ranks not-ready pods first when it scales down: wait
	// until the new pod is ready in tend's view and in the ReplicaSet's own status, so
	// that the deletion cost decides
	for {
		d, ok := c.deployment(name)
		if ok && d.Status.ObservedGeneration >= d.Generation && int(d.Status.ReadyReplicas) >= others+2 && c.readyOf(app, rev, id) > others {
			break
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = c.scaleBy(undo, name, -1)
			_ = mark(undo, "null")
			return fmt.Errorf("the replacement of %s did not become ready: %w", id, ctx.Err())
		}
	}
	if err := c.scaleBy(context.WithoutCancel(ctx), name, -1); err != nil {
		return err
	}
	for {
		if pod, ok := c.pod(id); !ok || pod.DeletionTimestamp != nil {
			return nil
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("pod %s was not deleted when %s scaled down: %w", id, name, ctx.Err())
		}
	}
}

// scaleBy changes a Deployment's replicas by delta from what they are now (a scale or a
// rollout meanwhile is kept), with the resourceVersion as a precondition.
func (c *Cluster) scaleBy(ctx context.Context, name string, delta int) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := &appsv1.Deployment{}
		if err := c.api.get(ctx, "deployments", name, d); err != nil {
			return err
		}
		to := max(0, int(*d.Spec.Replicas)+delta)
		return c.api.patch(ctx, "deployments", name, fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, d.ResourceVersion, to))
	})
	if err != nil {
		return fmt.Errorf("scale Deployment %s by %+d: %w", name, delta, err)
	}
	return nil
}

// readyOf counts the ready pods of app's revision other than except.
func (c *Cluster) readyOf(app string, rev int, except string) int {
	n := 0
	for _, in := range c.Instances(app) {
		if in.Revision == rev && in.ID != except && in.State == runtime.Ready {
			n++
		}
	}
	return n
}

package kubernetes

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/store"
)

// changed follows one pod: in the service registry (where the gateway finds it) while
// it is ready and not terminating, under its current address; out of it otherwise. A
// write that fails is tried again at the next resync. Subscribers hear of every change.
func (c *Cluster) changed(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	app := pod.Labels["app.kubernetes.io/name"]
	rev := pod.Labels[k8s.RevisionLabel]
	if app == "" || rev == "" {
		return
	}
	want := ""
	if !deleted && pod.DeletionTimestamp == nil && !finished(pod) && podReady(pod) && pod.Status.PodIP != "" {
		want = store.ServiceKey(app, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(k8s.AppPort)))
	}
	c.mu.Lock()
	if podReady(pod) {
		c.wasReady[pod.Name] = true
	}
	if deleted {
		delete(c.wasReady, pod.Name)
	}
	have := c.registered[pod.Name]
	c.mu.Unlock()
	if have != want {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if have != "" {
			if err := c.o.Store.Delete(ctx, have); err != nil {
				c.log.Error("deregister pod; retrying at the next resync", "pod", pod.Name, "err", err)
				return
			}
			c.setRegistered(pod.Name, "")
		}
		if want != "" {
			ep := store.Endpoint{Name: app, Address: pod.Status.PodIP, Port: k8s.AppPort, Metadata: map[string]string{
				"revision": rev, "instance": pod.Name, "managedBy": "tend", "node": pod.Spec.NodeName}}
			if err := c.o.Store.PutLeased(ctx, want, ep); err != nil {
				c.log.Error("register pod; retrying at the next resync", "pod", pod.Name, "err", err)
				return
			}
			c.setRegistered(pod.Name, want)
		}
	}
	c.subs.Notify(app)
}

func (c *Cluster) setRegistered(pod, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == "" {
		delete(c.registered, pod)
	} else {
		c.registered[pod] = key
	}
}

// finished is true for a pod that will not run again: evicted, or failed or succeeded
// for good. Kubernetes keeps it for a while; tend does not count it.
func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

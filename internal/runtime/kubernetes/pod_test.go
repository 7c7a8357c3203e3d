package kubernetes

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tendhq/tend/internal/runtime"
)

func TestPodsReadAsInstances(t *testing.T) {
	readyAt := metav1.NewTime(time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC))
	running := corev1.ContainerStatus{Name: "hello", RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hello-r3-abc", Labels: map[string]string{
			"app.kubernetes.io/name": "hello", "tend.dev/revision": "3"}}}
		mut(p)
		return p
	}
	scheduled := func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Status.PodIP = "10.1.2.3"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{running}
	}
	for _, c := range []struct {
		name     string
		pod      *corev1.Pod
		wasReady bool
		state    runtime.State
		message  string
	}{
		{"unschedulable", pod(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/3 nodes are available"}}
		}), false, runtime.Starting, "not scheduled: 0/3 nodes are available"},
		{"pulling", pod(func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}
		}), false, runtime.Starting, "ErrImagePull: not found"},
		{"running, not ready", pod(scheduled), false, runtime.Starting, "running, readiness probe not passing yet"},
		{"ready", pod(func(p *corev1.Pod) {
			scheduled(p)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: readyAt}}
		}), false, runtime.Ready, ""},
		{"was ready", pod(func(p *corev1.Pod) {
			scheduled(p)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"}}
		}), true, runtime.Unready, "ContainersNotReady"},
		{"crash looping", pod(func(p *corev1.Pod) {
			scheduled(p)
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}}
		}), true, runtime.Backoff, "CrashLoopBackOff: back-off 10s"},
		{"terminating", pod(func(p *corev1.Pod) {
			scheduled(p)
			p.DeletionTimestamp = &readyAt
		}), true, runtime.Stopping, "terminating"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := instanceOf(c.pod, c.wasReady)
			if in.State != c.state || in.Message != c.message {
				t.Errorf("state %q message %q, want %q %q", in.State, in.Message, c.state, c.message)
			}
			if in.ID != "hello-r3-abc" || in.App != "hello" || in.Revision != 3 {
				t.Errorf("identity: %+v", in)
			}
			if c.pod.Status.PodIP != "" && (in.Addr != "10.1.2.3:8080" || in.AdminAddr != "10.1.2.3:9090" || in.Restarts != 2) {
				t.Errorf("addresses and restarts: %+v", in)
			}
			if c.state == runtime.Ready && !in.ReadySince.Equal(readyAt.Time) {
				t.Errorf("ready since %v, want %v", in.ReadySince, readyAt)
			}
		})
	}
	if !finished(&corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}) {
		t.Error("an evicted pod counts as an instance")
	}
}

package kubernetes

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/runtime"
)

// instanceOf describes a pod as the process runtime describes a process: its state from
// the pod's phase, conditions and container status, its restarts, since when it is ready.
func instanceOf(pod *corev1.Pod, wasReady bool) runtime.Instance {
	rev, _ := strconv.Atoi(pod.Labels[k8s.RevisionLabel])
	in := runtime.Instance{ID: pod.Name, App: pod.Labels["app.kubernetes.io/name"], Revision: rev,
		StartedAt: pod.CreationTimestamp.Time, Limits: "not enforced: the spec sets no resources"}
	if len(pod.Spec.Containers) > 0 && len(pod.Spec.Containers[0].Resources.Limits) > 0 {
		in.Limits = "enforced: by the kubelet (requests = limits)"
	}
	if pod.Status.StartTime != nil {
		in.StartedAt = pod.Status.StartTime.Time
	}
	if ip := pod.Status.PodIP; ip != "" {
		in.Addr = net.JoinHostPort(ip, strconv.Itoa(k8s.AppPort))
		in.AdminAddr = net.JoinHostPort(ip, strconv.Itoa(k8s.AdminPort))
	}
	var cs *corev1.ContainerStatus
	if len(pod.Status.ContainerStatuses) > 0 {
		cs = &pod.Status.ContainerStatuses[0]
		in.Restarts = int(cs.RestartCount)
	}
	ready := condition(pod, corev1.PodReady)
	switch {
	case pod.DeletionTimestamp != nil:
		in.State, in.Message = runtime.Stopping, "terminating"
	case cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff",
		cs != nil && cs.State.Terminated != nil:
		in.State, in.Message = runtime.Backoff, containerMessage(cs)
	case ready != nil && ready.Status == corev1.ConditionTrue:
		in.State, in.ReadySince = runtime.Ready, ready.LastTransitionTime.Time
	case wasReady:
		in.State, in.Message = runtime.Unready, conditionMessage(ready)
	default:
		in.State, in.Message = runtime.Starting, startingMessage(pod, cs)
	}
	return in
}

func podReady(pod *corev1.Pod) bool {
	c := condition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func containerMessage(cs *corev1.ContainerStatus) string {
	switch {
	case cs.State.Waiting != nil:
		return strings.TrimSpace(cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message)
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		return strings.TrimSpace("exited with code " + strconv.Itoa(int(t.ExitCode)) + " " + t.Reason + " " + t.Message)
	}
	return ""
}

func conditionMessage(c *corev1.PodCondition) string {
	if c == nil {
		return ""
	}
	return strings.TrimSpace(c.Reason + " " + c.Message)
}

// startingMessage says what a pod that is not ready yet waits for.
func startingMessage(pod *corev1.Pod, cs *corev1.ContainerStatus) string {
	if pod.Spec.NodeName == "" {
		if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			return "not scheduled: " + c.Message
		}
		return "waiting for a node"
	}
	if cs != nil && cs.State.Waiting != nil {
		return containerMessage(cs)
	}
	if cs != nil && cs.State.Running != nil {
		return "running, readiness probe not passing yet"
	}
	return string(pod.Status.Phase)
}

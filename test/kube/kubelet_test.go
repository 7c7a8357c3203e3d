package kube

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// kubelet is the fake kubelet of the test control plane. It registers a node, binds every
// pending pod to it (the scheduler's job), and runs each pod's container as a local
// process: it pulls the image from its registry, runs its entrypoint with the container's
// environment (status.podIP resolved to a loopback address of the pod's own, secretKeyRef
// and configMapKeyRef read from the API), in a directory that stands for the container's
// root filesystem, where it writes the files of the container's emptyDir and projected
// (Secret and ConfigMap) volume mounts with their modes, and starts in the container's
// workingDir there; a Secret or ConfigMap that is missing keeps the container waiting
// (CreateContainerConfigError) as the kubelet does. It probes readiness over HTTP as the
// pod's readinessProbe says, reports Running, Ready and restarts in the pod's status,
// and on deletion runs the preStop sleep, SIGTERM and the grace period before it removes
// the pod. It keeps each run's output with timestamps and serves it to the API server's
// pods/log (podlogs_test.go). What it does not do: liveness probes, other volume types, users (processes
// run as the test's user, who owns the files), resource limits.
type kubelet struct {
	t    *testing.T
	core *coreclient.CoreV1Client
	node string
	dir  string

	pulling sync.Mutex
	mu      sync.Mutex
	pods    map[string]*podRun // namespace/name → its run
	nextIP  int
	images  map[string]string // image reference → extracted entrypoint
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startKubelet(t *testing.T, c *cluster) *kubelet {
	t.Helper()
	core, err := coreclient.NewForConfig(c.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	k := &kubelet{t: t, core: core, node: "tend-test-node", dir: t.TempDir(), pods: map[string]*podRun{},
		images: map[string]string{}, stop: make(chan struct{}), nextIP: 1}
	ctx := context.Background()
	port := k.serveLogs()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.node, Labels: map[string]string{"kubernetes.io/hostname": k.node}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			// where the API server finds the kubelet for pods/log: this one, on loopback
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}}}
	created, err := core.Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("register the node: %v", err)
	}
	created.Status = node.Status
	if _, err := core.Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("mark the node ready: %v", err)
	}
	lw := cache.NewListWatchFromClient(core.RESTClient(), "pods", metav1.NamespaceAll, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.sync(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.sync(obj.(*corev1.Pod)) },
	})
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(k.stop) }()
	t.Cleanup(func() {
		close(k.stop)
		<-done
		k.mu.Lock()
		runs := make([]*podRun, 0, len(k.pods))
		for _, r := range k.pods {
			runs = append(runs, r)
		}
		k.mu.Unlock()
		for _, r := range runs {
			r.kill()
		}
		k.wg.Wait()
	})
	return k
}

// restConfig is the admin's client configuration.
func (c *cluster) restConfig() *rest.Config {
	return &rest.Config{Host: c.URL, BearerToken: c.Token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
}

// sync acts on what a pod's latest version asks for: bind it, run it, or end it.
func (k *kubelet) sync(pod *corev1.Pod) {
	key := pod.Namespace + "/" + pod.Name
	k.mu.Lock()
	run := k.pods[key]
	k.mu.Unlock()
	switch {
	case pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil:
		err := k.core.Pods(pod.Namespace).Bind(context.Background(), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: k.node}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			k.t.Logf("kubelet: bind %s: %v", key, err)
		}
	case pod.Spec.NodeName != k.node:
	case run == nil && pod.DeletionTimestamp != nil:
		k.remove(pod)
	case run == nil:
		k.mu.Lock()
		ip := fmt.Sprintf("127.0.%d.%d", 10+k.nextIP/250, 1+k.nextIP%250)
		k.nextIP++
		run = &podRun{k: k, pod: pod.DeepCopy(), ip: ip, terminate: make(chan struct{}), done: make(chan struct{})}
		k.pods[key] = run
		k.mu.Unlock()
		k.wg.Add(1)
		go func() { defer k.wg.Done(); run.run() }()
	case pod.DeletionTimestamp != nil:
		run.requestTermination(pod)
	}
}

// remove deletes a pod for good, as the kubelet does once its containers are gone.
func (k *kubelet) remove(pod *corev1.Pod) {
	zero := int64(0)
	err := k.core.Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
		Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.t.Logf("kubelet: delete %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	k.mu.Lock()
	delete(k.pods, pod.Namespace+"/"+pod.Name)
	k.mu.Unlock()
}

// pull fetches an image and extracts its entrypoint executable.
func (k *kubelet) pull(image string) (string, error) {
	k.pulling.Lock() // one pull at a time: pods of one image share its executable
	defer k.pulling.Unlock()
	k.mu.Lock()
	bin, ok := k.images[image]
	k.mu.Unlock()
	if ok {
		return bin, nil
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(ref)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	if len(cfg.Config.Entrypoint) == 0 {
		return "", errors.New("the image has no entrypoint")
	}
	entry := strings.TrimPrefix(cfg.Config.Entrypoint[0], "/")
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	digest, _ := img.Digest()
	bin = filepath.Join(k.dir, "images", digest.Hex, path.Base(entry))
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return "", err
		}
		found, err := extract(rc, entry, bin)
		rc.Close()
		if err != nil {
			return "", err
		}
		if found {
			k.mu.Lock()
			k.images[image] = bin
			k.mu.Unlock()
			return bin, nil
		}
	}
	return "", fmt.Errorf("the image has no %s", entry)
}

func extract(r io.Reader, entry, to string) (bool, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if strings.TrimPrefix(h.Name, "./") != entry {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return false, err
		}
		f, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return false, err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return false, err
		}
		return true, f.Close()
	}
}

// podRun is one pod on the fake node: its container's process, restarted when it exits.
type podRun struct {
	k   *kubelet
	pod *corev1.Pod
	ip  string

	once      sync.Once
	terminate chan struct{}
	grace     time.Duration
	done      chan struct{}

	mu       sync.Mutex
	proc     *exec.Cmd
	restarts int32
}

func (r *podRun) requestTermination(pod *corev1.Pod) {
	r.once.Do(func() {
		r.grace = 30 * time.Second
		if pod.DeletionGracePeriodSeconds != nil {
			r.grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		}
		close(r.terminate)
	})
}

// kill ends the process at once (the test is over).
func (r *podRun) kill() {
	r.requestTermination(r.pod)
	r.mu.Lock()
	if r.proc != nil && r.proc.Process != nil {
		_ = syscall.Kill(-r.proc.Process.Pid, syscall.SIGKILL)
	}
	r.mu.Unlock()
}

func (r *podRun) run() {
	defer close(r.done)
	c := r.pod.Spec.Containers[0]
	ctx := context.Background()
	var bin string
	for {
		var err error
		if bin, err = r.k.pull(c.Image); err == nil {
			break
		}
		r.status(ctx, func(s *corev1.PodStatus) {
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}}}}
		})
		select {
		case <-r.terminate:
			r.k.remove(r.pod)
			return
		case <-time.After(2 * time.Second):
		}
	}
	var env []string
	for {
		var err error
		if env, err = r.prepare(ctx, c); err == nil {
			break
		}
		r.status(ctx, func(s *corev1.PodStatus) {
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}}}
		})
		select {
		case <-r.terminate:
			r.k.remove(r.pod)
			return
		case <-time.After(time.Second):
		}
	}
	backoff := time.Second
	for {
		exited, err := r.start(bin, c, env)
		if err != nil {
			r.k.t.Logf("kubelet: start %s: %v", r.pod.Name, err)
			r.k.remove(r.pod)
			return
		}
		if r.serve(ctx, c, exited) {
			r.k.remove(r.pod)
			return
		}
		r.mu.Lock()
		r.restarts++
		restarts := r.restarts
		r.mu.Unlock()
		r.status(ctx, func(s *corev1.PodStatus) {
			setReady(s, false)
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, RestartCount: restarts,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off " + backoff.String()}}}}
		})
		select {
		case <-r.terminate:
			r.k.remove(r.pod)
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// start runs the container's entrypoint with its environment; exited closes when it ends.
func (r *podRun) start(bin string, c corev1.Container, env []string) (chan struct{}, error) {
	// the previous run's log is kept, as the kubelet keeps it for logs --previous
	if err := os.Rename(r.containerLog(false), r.containerLog(true)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	logFile, err := os.OpenFile(r.containerLog(false), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	out := &timestamper{w: logFile}
	cmd := exec.Command(bin, append(c.Command[min(len(c.Command), 1):], c.Args...)...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, filepath.Join(r.root(), c.WorkingDir), out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	r.mu.Lock()
	r.proc = cmd
	restarts := r.restarts
	r.mu.Unlock()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(exited) }()
	now := metav1.Now()
	r.status(context.Background(), func(s *corev1.PodStatus) {
		s.Phase, s.PodIP, s.PodIPs, s.HostIP = corev1.PodRunning, r.ip, []corev1.PodIP{{IP: r.ip}}, "127.0.0.1"
		if s.StartTime == nil {
			s.StartTime = &now
		}
		setCondition(s, corev1.PodScheduled, true)
		setCondition(s, corev1.PodInitialized, true)
		setReady(s, false)
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, ImageID: c.Image, Started: ptr(true), RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	})
	return exited, nil
}

// serve probes readiness until the process exits (false) or the pod is terminated (true).
func (r *podRun) serve(ctx context.Context, c corev1.Container, exited chan struct{}) bool {
	p := c.ReadinessProbe
	period, threshold := time.Second, 1
	var url string
	if p != nil && p.HTTPGet != nil {
		period = max(time.Second, time.Duration(p.PeriodSeconds)*time.Second)
		threshold = int(max(1, p.FailureThreshold))
		url = "http://" + net.JoinHostPort(r.ip, strconv.Itoa(portOf(c, p.HTTPGet.Port.String()))) + p.HTTPGet.Path
	}
	client := &http.Client{Timeout: time.Second}
	ready, failures := false, 0
	tick := time.NewTicker(min(period, 500*time.Millisecond))
	defer tick.Stop()
	last := time.Time{}
	for {
		select {
		case <-exited:
			return false
		case <-r.terminate:
			r.shutdown(c, exited)
			return true
		case <-tick.C:
		}
		if !ready && time.Since(last) < 300*time.Millisecond || ready && time.Since(last) < period {
			continue
		}
		last = time.Now()
		ok := url == ""
		if !ok {
			resp, err := client.Get(url)
			if err == nil {
				ok = resp.StatusCode >= 200 && resp.StatusCode < 400
				resp.Body.Close()
			}
		}
		switch {
		case ok:
			failures = 0
		case ready:
			failures++
		}
		now := ok || ready && failures < threshold
		if now != ready {
			ready = now
			r.status(ctx, func(s *corev1.PodStatus) {
				setReady(s, ready)
				if len(s.ContainerStatuses) > 0 {
					s.ContainerStatuses[0].Ready = ready
				}
			})
		}
	}
}

// shutdown runs the container's end as the kubelet does: preStop, SIGTERM, the grace period, SIGKILL.
func (r *podRun) shutdown(c corev1.Container, exited chan struct{}) {
	deadline := time.Now().Add(r.grace)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		select {
		case <-time.After(time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second):
		case <-exited:
		}
	}
	r.mu.Lock()
	pid := r.proc.Process.Pid
	r.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(time.Until(deadline)):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

// status changes the pod's status as fn says, retrying on conflicts.
func (r *podRun) status(ctx context.Context, fn func(*corev1.PodStatus)) {
	pods := r.k.core.Pods(r.pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		fn(&pod.Status)
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		r.k.t.Logf("kubelet: status of %s: %v", r.pod.Name, err)
	}
}

func setReady(s *corev1.PodStatus, ready bool) {
	setCondition(s, corev1.ContainersReady, ready)
	setCondition(s, corev1.PodReady, ready)
}

func setCondition(s *corev1.PodStatus, t corev1.PodConditionType, on bool) {
	status := corev1.ConditionFalse
	if on {
		status = corev1.ConditionTrue
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			if s.Conditions[i].Status != status {
				s.Conditions[i].Status, s.Conditions[i].LastTransitionTime = status, metav1.Now()
			}
			return
		}
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: metav1.Now()})
}

// portOf resolves a probe's port (a number or a container port's name).
func portOf(c corev1.Container, port string) int {
	for _, p := range c.Ports {
		if p.Name == port {
			return int(p.ContainerPort)
		}
	}
	n, _ := strconv.Atoi(port)
	return n
}

func ptr[T any](v T) *T { return &v }

package kubernetes

import (
	"bufio"
	"context"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/logs"
)

// podPollInterval is how often a following read looks for new pods of the app.
const podPollInterval = 2 * time.Second

// Logs reads the log lines of an app's pods through the API server (pods/log, which the
// kubelet of each pod's node serves), filtered and counted as the process runtime's
// files are: q.Tail lines in total, merged by time, then with q.Follow every new line
// of those pods and of pods that start later. q.Live selects pods by name as tend
// status lists them; with previous the container's previous run is read (a pod that
// restarted), which is what Kubernetes keeps of instances that exited.
func (c *Cluster) Logs(ctx context.Context, app string, q logs.Query, previous bool, emit func(logs.Line) error) error {
	pods := c.logPods(app, q, previous, nil)
	var batch []logs.Line
	for _, p := range pods {
		lines, err := c.podLines(ctx, p, q, previous)
		if err != nil {
			return err
		}
		batch = append(batch, lines...)
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].At.Before(batch[j].At) })
	if q.Tail >= 0 && len(batch) > q.Tail {
		batch = batch[len(batch)-q.Tail:]
	}
	for _, l := range batch {
		if err := emit(l); err != nil {
			return err
		}
	}
	if !q.Follow {
		return nil
	}
	return c.followPods(ctx, app, q, pods, emit)
}

// logPod is a pod whose log is read, and what its log says of it.
type logPod struct {
	name, container string
	revision        int
}

// logPods are the app's pods q selects; seen leaves out those already followed.
func (c *Cluster) logPods(app string, q logs.Query, previous bool, seen map[string]bool) []logPod {
	var out []logPod
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, obj := range c.informer.GetStore().List() {
		pod := obj.(*corev1.Pod)
		rev, err := strconv.Atoi(pod.Labels[k8s.RevisionLabel])
		if pod.Labels["app.kubernetes.io/name"] != app || err != nil || pod.Spec.NodeName == "" || len(pod.Spec.Containers) == 0 || seen[pod.Name] {
			continue
		}
		if (q.Instance != "" && pod.Name != q.Instance) || (q.Revision != 0 && rev != q.Revision) {
			continue
		}
		if q.Instance == "" && seen == nil && q.Live != nil && !q.Live(pod.Name) {
			continue
		}
		if previous && !restarted(pod) {
			continue // Kubernetes keeps the previous run of a container that restarted only
		}
		out = append(out, logPod{name: pod.Name, container: pod.Spec.Containers[0].Name, revision: rev})
	}
	return out
}

func restarted(pod *corev1.Pod) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if s.RestartCount > 0 {
			return true
		}
	}
	return false
}

// logStream opens a pod's log with the kubelet's timestamps.
func (c *Cluster) logStream(ctx context.Context, p logPod, q logs.Query, previous, follow bool, tail int) (io.ReadCloser, error) {
	req := c.api.core.Get().Namespace(c.api.namespace).Resource("pods").Name(p.name).SubResource("log").
		Param("container", p.container).Param("timestamps", "true")
	if follow {
		req = req.Param("follow", "true")
	}
	if previous {
		req = req.Param("previous", "true")
	}
	if tail >= 0 {
		req = req.Param("tailLines", strconv.Itoa(tail))
	}
	if !q.Since.IsZero() {
		req = req.Param("sinceTime", q.Since.Add(-time.Second).UTC().Format(time.RFC3339)) // whole seconds: the filter is exact
	}
	rc, err := req.Stream(ctx)
	if err != nil {
		return nil, c.api.explain(err, "read the log of", "pods/"+p.name)
	}
	return rc, nil
}

// podLines reads what a pod's log holds now that passes q (the last q.Tail of them).
func (c *Cluster) podLines(ctx context.Context, p logPod, q logs.Query, previous bool) ([]logs.Line, error) {
	if q.Tail == 0 {
		return nil, nil
	}
	tail := -1
	if q.Tail > 0 && q.Grep == nil && q.Level == nil && q.Since.IsZero() && q.Until.IsZero() {
		tail = q.Tail // no filter: the kubelet's tail is ours
	}
	rc, err := c.logStream(ctx, p, q, previous, false, tail)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out []logs.Line
	err = scanPodLog(rc, p, func(l logs.Line) error {
		if q.Keeps(l) {
			out = append(out, l)
			if q.Tail > 0 && len(out) > q.Tail {
				out = out[1:]
			}
		}
		return nil
	})
	return out, err
}

// scanPodLog reads "TIMESTAMP TEXT" lines, as the kubelet writes them with timestamps.
func scanPodLog(r io.Reader, p logPod, fn func(logs.Line) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ts, text, _ := strings.Cut(sc.Text(), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			at, text = time.Now(), sc.Text()
		}
		if err := fn(logs.NewLine(p.name, p.revision, text, at)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// followPods streams the new lines of the pods read and of pods that appear, until ctx
// ends (or q.Until passes).
func (c *Cluster) followPods(ctx context.Context, app string, q logs.Query, pods []logPod, emit func(logs.Line) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // every stream ends with ctx
	if !q.Until.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, q.Until)
		defer stop()
	}
	lines := make(chan logs.Line, 256)
	seen := map[string]bool{}
	follow := func(p logPod, fromStart bool) {
		seen[p.name] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			tail := 0 // the lines read already were emitted
			if fromStart {
				tail = -1 // a new pod: all it wrote is new
			}
			rc, err := c.logStream(ctx, p, logs.Query{}, false, true, tail)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Debug("follow a pod's log", "pod", p.name, "err", err)
				}
				return
			}
			defer rc.Close()
			go func() { <-ctx.Done(); rc.Close() }()
			_ = scanPodLog(rc, p, func(l logs.Line) error {
				select {
				case lines <- l:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
	}
	for _, p := range pods {
		follow(p, false)
	}
	poll := time.NewTicker(podPollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil // the client went away, or Until passed
		case l := <-lines:
			if q.Keeps(l) {
				if err := emit(l); err != nil {
					return err
				}
			}
		case <-poll.C:
			for _, p := range c.logPods(app, logs.Query{Instance: q.Instance, Revision: q.Revision}, false, seen) {
				follow(p, true)
			}
		}
	}
}

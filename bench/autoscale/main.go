// Command autoscale measures tend's autoscaler as users run it: `tend server` with
// examples/hello deployed by `tend deploy` with autoscale {min: 1, max: 6, targets:
// {rps: 50}} and the HPA's default behavior (a scale-down window of -window), under
// load through the gateway stepped 20 → 250 → 20 req/s, then -steady of 125 req/s
// with ±20% noise (a new rate every 2s).
//
//	go run ./bench/autoscale
//	go run ./bench/autoscale -window 30s -steady 1m -hold 30s   # shorter, for CI
//
// It prints Markdown; bench/run.sh puts it in docs/BENCHMARKS.md. The exit code is 1 when
// a request failed, the app never reached 5 ready instances or never came back to 1, or
// the count changed under steady load.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/test/harness"
)

func main() {
	window := flag.Duration("window", 5*time.Minute, "the scale-down stabilization window (the HPA's default is 5m)")
	steady := flag.Duration("steady", 5*time.Minute, "how long the steady load with noise runs")
	hold := flag.Duration("hold", time.Minute, "how long each load step holds once the count settled")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	bad, err := run(os.Stdout, log, *root, *window, *steady, *hold)
	if err != nil {
		log.Error("autoscale bench", "err", err)
		os.Exit(2)
	}
	if bad != "" {
		log.Error("autoscale bench", "failed", bad)
		os.Exit(1)
	}
}

const spec = `app: hello
build: {main: %s}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms, failureThreshold: 2}
shutdown: {grace: 5s, drain: 500ms}
autoscale:
  min: 1
  max: 6
  targets: {rps: 50}
  behavior:
    scaleDown: {stabilizationWindow: %s}
`

func run(w io.Writer, log *slog.Logger, root string, window, steady, hold time.Duration) (string, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return "", err
	}
	defer ws.Close()
	s, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: filepath.Join(ws.Dir, "data")})
	if err != nil {
		return "", err
	}
	defer s.Stop()
	file := filepath.Join(ws.Dir, "tend.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, spec, ws.Hello, window), 0o644); err != nil {
		return "", err
	}
	if out, err := s.Tend("deploy", "-f", file); err != nil {
		return "", fmt.Errorf("deploy: %w\n%s", err, out)
	}

	// 20 req/s until the count is 1 and has been for hold
	low := harness.StartLoad(s, 20, 30*time.Minute)
	if _, err := waitCount(s, 1, 2*time.Minute); err != nil {
		low.Finish()
		return "", err
	}
	time.Sleep(hold)
	warm := low.Finish()
	log.Info("step up", "rps", 250)

	// the step up: how long until 5 instances are ready, and what clients saw meanwhile
	high := harness.StartLoad(s, 250, 30*time.Minute)
	reached, upErr := waitReady(s, 5, 5*time.Minute)
	time.Sleep(hold)
	stepUp := high.Finish()
	peak := peakCount(s)
	log.Info("step down", "rps", 20, "ready after", reached)

	// the step down: how long until the app is back to one instance
	low = harness.StartLoad(s, 20, 30*time.Minute)
	back, downErr := waitCount(s, 1, window+5*time.Minute)
	stepDown := low.Finish()
	log.Info("steady", "rps", 125, "for", steady, "back after", back)

	// steady load with noise: settle at 125 req/s (3 instances), then count the changes
	settle := harness.StartLoad(s, 125, 30*time.Minute)
	_, settleErr := waitCount(s, 3, 3*time.Minute)
	time.Sleep(hold)
	settled := settle.Finish()
	before, err := changes(s)
	if err != nil {
		return "", err
	}
	start := time.Now()
	var noisy []harness.Result
	counts := map[int]bool{}
	for time.Since(start) < steady {
		rate := int(125 * (0.8 + 0.4*rand.Float64()))
		l := harness.StartLoad(s, rate, 2*time.Second)
		time.Sleep(2 * time.Second)
		noisy = append(noisy, l.Finish())
		if st, err := s.Status("hello"); err == nil {
			counts[st.Instances] = true
		}
	}
	after, err := changes(s)
	if err != nil {
		return "", err
	}
	flaps := after[len(before):]

	failed := warm.Failed + stepUp.Failed + stepDown.Failed + settled.Failed
	var noisyOK, noisyFailed int64
	for _, r := range noisy {
		noisyOK += r.OK
		noisyFailed += r.Failed
	}
	failed += noisyFailed

	fmt.Fprintf(w, "examples/hello deployed by `tend deploy` with `autoscale: {min: 1, max: 6, targets: {rps: 50}}`, the HPA's default scale-up behavior and a scale-down window of %s; sync every 15s, rates over 30s. Load through the gateway from this machine's loopback.\n\n", window)
	fmt.Fprintln(w, "| phase | what | result |")
	fmt.Fprintln(w, "|---|---|---:|")
	fmt.Fprintf(w, "| 20 → 250 req/s | time from the step to 5 ready instances | %s |\n", orFailed(reached, upErr))
	fmt.Fprintf(w, "| | highest count | %d |\n", peak)
	fmt.Fprintf(w, "| | requests during the step (until %s after 5 were ready): ok / failed | %d / %d |\n", hold, stepUp.OK, stepUp.Failed)
	fmt.Fprintf(w, "| | latency p50 / p99 / max during the step | %s / %s / %s |\n", ms(stepUp.Percentile(0.5)), ms(stepUp.Percentile(0.99)), ms(stepUp.Percentile(1)))
	fmt.Fprintf(w, "| 250 → 20 req/s | time from the step back to 1 instance (window %s) | %s |\n", window, orFailed(back, downErr))
	fmt.Fprintf(w, "| | requests: ok / failed | %d / %d |\n", stepDown.OK, stepDown.Failed)
	fmt.Fprintf(w, "| 125 req/s ±20%% for %s | changes of the count (target 0) | %d |\n", steady, len(flaps))
	fmt.Fprintf(w, "| | counts seen | %v |\n", slices.Sorted(maps.Keys(counts)))
	fmt.Fprintf(w, "| | requests: ok / failed | %d / %d |\n", noisyOK, noisyFailed)
	fmt.Fprintf(w, "| all | failed requests | %d |\n", failed)
	fmt.Fprintln(w, "\nThe autoscaler's changes (`tend autoscale hello`), the steady phase's marked:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| time | from | to | reason |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for i, c := range after {
		mark := ""
		if i >= len(before) {
			mark = " **(steady load)**"
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s%s |\n", c.At.Format(time.TimeOnly), c.From, c.To, c.Reason, mark)
	}
	switch {
	case failed > 0:
		return fmt.Sprintf("%d requests failed: %v %v", failed, stepUp.Failures, stepDown.Failures), nil
	case upErr != nil:
		return upErr.Error(), nil
	case downErr != nil:
		return downErr.Error(), nil
	case settleErr != nil:
		return settleErr.Error(), nil
	case len(flaps) > 0:
		return fmt.Sprintf("%d changes under steady load", len(flaps)), nil
	}
	return "", nil
}

// waitCount waits until the app's desired count is n and as many of its instances run,
// and says how long that took.
func waitCount(s *harness.Server, n int, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		st, err := s.Status("hello")
		if err == nil && st.Instances == n && running(st) == n {
			return time.Since(start), nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	st, _ := s.Status("hello")
	return 0, fmt.Errorf("the count did not reach %d within %s: %d instances, %d running", n, limit, st.Instances, running(st))
}

// waitReady waits until n instances are ready.
func waitReady(s *harness.Server, n int, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		if st, err := s.Status("hello"); err == nil && ready(st) >= n {
			return time.Since(start), nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return 0, fmt.Errorf("fewer than %d instances ready after %s", n, limit)
}

func ready(st v1.App) int {
	n := 0
	for _, in := range st.Running {
		if in.State == v1.Ready {
			n++
		}
	}
	return n
}

func running(st v1.App) int {
	n := 0
	for _, in := range st.Running {
		if in.State != v1.Stopping {
			n++
		}
	}
	return n
}

// peakCount is the highest count the autoscaler set.
func peakCount(s *harness.Server) int {
	cs, _ := changes(s)
	peak := 0
	for _, c := range cs {
		peak = max(peak, c.To)
	}
	return peak
}

// changes are the autoscaler's changes so far, as tend autoscale -o json lists them.
func changes(s *harness.Server) ([]v1.AutoscaleChange, error) {
	out, err := s.Tend("autoscale", "hello", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("tend autoscale: %w\n%s", err, out)
	}
	var h v1.AutoscaleHistory
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		return nil, fmt.Errorf("tend autoscale -o json: %w\n%s", err, out)
	}
	return h.Changes, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func orFailed(d time.Duration, err error) string {
	if err != nil {
		return "never (" + err.Error() + ")"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

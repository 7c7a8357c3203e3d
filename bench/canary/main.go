// Command canary measures tend's canary analysis: how long a faulty canary (5% of its
// requests fail) at 10% of 200 req/s takes to be rolled back, and how many healthy
// canaries under the same load are rolled back by mistake. Both with the default checks
// (error-rate max 1% and latency-p99 max 1s, each also compared with the stable revision)
// measured every 5 s.
//
//	go run ./bench/canary -faulty 10 -healthy 20
//
// It prints Markdown; bench/run.sh puts it in docs/BENCHMARKS.md. The exit code is 1 when
// a faulty canary was promoted or a healthy one rolled back.
package main

import (
	"flag"
	"fmt"
	"github.com/tendhq/tend/internal/api/v1"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tendhq/tend/test/harness"
)

func main() {
	faulty := flag.Int("faulty", 10, "canaries with FAULT_ERROR_RATE=0.05, each expected to be rolled back")
	healthy := flag.Int("healthy", 20, "healthy canaries, each expected to be promoted")
	rps := flag.Int("rps", 200, "steady request rate through the gateway")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	wrong, err := run(os.Stdout, log, *root, *faulty, *healthy, *rps)
	if err != nil {
		log.Error("canary bench", "err", err)
		os.Exit(2)
	}
	if wrong > 0 {
		log.Error("wrong verdicts", "count", wrong)
		os.Exit(1)
	}
}

// trial is one canary rollout and what came of it.
type trial struct {
	faulty   bool
	phase    v1.Phase
	decided  time.Duration // rollout start → the verdict that ended it
	finished time.Duration // rollout start → stable serving all traffic again (or the canary promoted)
	command  time.Duration // tend deploy → exit
	load     harness.Result
	message  string
	stable   string // the stable revision's number, as the X-Revision header gives it
}

func run(w io.Writer, log *slog.Logger, root string, faulty, healthy, rps int) (int, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	s, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: filepath.Join(ws.Dir, "data")})
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	spec := filepath.Join(ws.Dir, "tend.yaml")
	deploy := func(env string) (string, error) {
		if err := os.WriteFile(spec, []byte(harness.HelloCanarySpec(ws.Hello, 3, env, harness.AnalysedCanary)), 0o644); err != nil {
			return "", err
		}
		return s.Tend("deploy", "-f", spec)
	}
	if out, err := deploy(`RELEASE: "base"`); err != nil {
		return 0, fmt.Errorf("first deploy: %w\n%s", err, out)
	}
	var trials []trial
	// interleaved, so that both kinds see the same machine
	for i := 0; i < max(faulty, healthy); i++ {
		for _, bad := range []bool{true, false} {
			if (bad && i >= faulty) || (!bad && i >= healthy) {
				continue
			}
			env := fmt.Sprintf(`RELEASE: "ok-%d"`, i)
			if bad {
				env = fmt.Sprintf(`RELEASE: "bad-%d", FAULT_ERROR_RATE: "0.05"`, i)
			}
			l := harness.StartLoad(s, rps, 5*time.Minute)
			time.Sleep(3 * time.Second) // the stable revision's traffic is in the metrics
			began := time.Now()
			out, err := deploy(env)
			t := trial{faulty: bad, command: time.Since(began)}
			time.Sleep(time.Second)
			t.load = l.Finish()
			st, serr := s.Status("hello")
			if serr != nil {
				return 0, serr
			}
			r := st.Rollout
			t.phase, t.message, t.stable = r.Phase, r.Message, strconv.Itoa(r.From)
			if !r.FinishedAt.IsZero() {
				t.finished = r.FinishedAt.Sub(r.StartedAt)
			}
			if n := len(r.Verdicts); n > 0 {
				t.decided = r.Verdicts[n-1].At.Sub(r.StartedAt)
			}
			trials = append(trials, t)
			log.Info("trial", "faulty", bad, "phase", t.phase, "decided", t.decided.String(), "finished", t.finished.String(),
				"requests", t.load.OK+t.load.Failed, "failedByRevision", t.load.FailedByRevision, "exit", harness.ExitCode(err))
			if harness.ExitCode(err) < 0 {
				return 0, fmt.Errorf("tend deploy: %w\n%s", err, out)
			}
		}
	}
	return report(w, trials, rps), nil
}

func report(w io.Writer, trials []trial, rps int) int {
	var bad, good []trial
	for _, t := range trials {
		if t.faulty {
			bad = append(bad, t)
		} else {
			good = append(good, t)
		}
	}
	wrong := 0
	fmt.Fprintf(w, "Load: %d req/s of GET / through tend's gateway during every canary; canary steps 10%% → analysis → 50%% → analysis, checks every 5 s (defaults: error-rate max 1%% and latency-p99 max 1s, each also against the stable revision).\n\n", rps)
	if len(bad) > 0 {
		var decided, finished []time.Duration
		var userReq, userFailed, stableFailed int64
		rolledBack := 0
		for _, t := range bad {
			if t.phase == v1.RolledBack {
				rolledBack++
				decided, finished = append(decided, t.decided), append(finished, t.finished)
			} else {
				wrong++
			}
			userReq += t.load.OK + t.load.Failed
			userFailed += t.load.Failed
			// failures the stable revision gave, or that came from no instance at all
			stableFailed += t.load.FailedByRevision[t.stable] + t.load.FailedByRevision[""]
		}
		fmt.Fprintf(w, "**Faulty canary** (FAULT_ERROR_RATE=0.05): %d of %d rolled back automatically.\n\n", rolledBack, len(bad))
		fmt.Fprintln(w, "| from canary start to | min | p50 | p90 | max | every run |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
		fmt.Fprintf(w, "| the failing verdict | %s |\n", harness.Dist(decided))
		fmt.Fprintf(w, "| stable serving all traffic again | %s |\n", harness.Dist(finished))
		fmt.Fprintf(w, "\nUser requests during these canaries: %d, failed %d (%.2f%%; the canary's share of the fault is 10%% × 5%% = 0.5%% while it is at 10%%), of which on the stable revision or without an answer from any instance: %d.\n\n",
			userReq, userFailed, 100*float64(userFailed)/float64(max(userReq, 1)), stableFailed)
	}
	if len(good) > 0 {
		promoted := 0
		var finished []time.Duration
		var failed int64
		for _, t := range good {
			if t.phase == v1.Completed {
				promoted++
				finished = append(finished, t.finished)
			} else {
				wrong++
			}
			failed += t.load.Failed
		}
		fmt.Fprintf(w, "**Healthy canary**: %d of %d promoted, **%d false rollbacks** (target 0); %d requests failed during them.\n\n", promoted, len(good), len(good)-promoted, failed)
		fmt.Fprintln(w, "| from canary start to | min | p50 | p90 | max | every run |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
		fmt.Fprintf(w, "| all traffic on the canary | %s |\n", harness.Dist(finished))
		for _, t := range good {
			if t.phase != v1.Completed {
				fmt.Fprintf(w, "\nA healthy canary ended %s: %s\n", t.phase, t.message)
			}
		}
	}
	return wrong
}

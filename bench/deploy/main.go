// Command deploy measures tend's zero-downtime claim: failed requests and latency while a
// real tend server rolls, blue-greens, canaries and rolls back examples/hello under steady
// load, and the time from command to done, for each instance count asked for.
//
//	go run ./bench/deploy -rps 500 -instances 3,10
//
// It prints a Markdown table; bench/run.sh puts it in docs/BENCHMARKS.md. The exit code is
// 1 when any request failed, so a smoke run in CI catches a regression.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/test/harness"
)

func main() {
	rps := flag.Int("rps", 500, "steady request rate through the gateway during every change")
	hold := flag.Duration("hold", 20*time.Second, "the least time load runs for each change (it starts 2s before the command and runs 2s past its end)")
	counts := flag.String("instances", "3,10", "comma-separated instance counts, one table block each")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	failed, err := run(os.Stdout, log, *root, *rps, *hold, *counts)
	if err != nil {
		log.Error("deploy bench", "err", err)
		os.Exit(2)
	}
	if failed > 0 {
		log.Error("requests failed during a deploy", "failed", failed)
		os.Exit(1)
	}
}

// change is one row: what the user runs, and the spec it deploys (empty for rollback),
// or a hand-over of tend server itself to a new process (SIGUSR2).
type change struct {
	name     string
	release  string
	strategy string
	args     []string // CLI arguments; the spec path is appended for deploy
	handOver bool
}

var changes = []change{
	{"rolling 1→2", "2", harness.Rolling, []string{"deploy", "-f"}, false},
	{"blue-green 2→3", "3", `  blueGreen: {autoPromote: true}`, []string{"deploy", "-f"}, false},
	{"canary 3→4 (20%, 2s, 50%, 2s)", "4", `  canary:
    steps: [{weight: 20}, {pause: 2s}, {weight: 50}, {pause: 2s}]`, []string{"deploy", "-f"}, false},
	{"rollback 4→3", "", "", []string{"rollback", "hello"}, false},
	{"tend server hand-over (SIGUSR2)", "", "", nil, true},
}

func run(w io.Writer, log *slog.Logger, root string, rps int, hold time.Duration, counts string) (int64, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	fmt.Fprintf(w, "Load: %d req/s of GET / through tend's gateway, from the first request 2 s before the command to 2 s after it returned, at least %s a row. Latency of successful requests; \"failed\" is any error or non-200 answer.\n\n", rps, hold)
	fmt.Fprintln(w, "| instances | change | requests | failed | p50 | p99 | p99.9 | max | command → done |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	var failed int64
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return failed, fmt.Errorf("-instances %q: want positive counts like 3,10", counts)
		}
		rows, err := block(log, ws.Bin, ws.Hello, filepath.Join(ws.Dir, f), n, rps, hold)
		for _, r := range rows {
			failed += r.Failed
			fmt.Fprintf(w, "| %d | %s | %d | %d | %s | %s | %s | %s | %s |\n", n, r.name, r.OK+r.Failed, r.Failed,
				ms(r.Percentile(0.5)), ms(r.Percentile(0.99)), ms(r.Percentile(0.999)), ms(r.Percentile(1)), r.took.Round(10*time.Millisecond))
		}
		if err != nil {
			return failed, err
		}
	}
	return failed, nil
}

type row struct {
	harness.Result
	name string
	took time.Duration
}

// block deploys revision 1 with n instances on a fresh server, then runs every change under load.
func block(log *slog.Logger, bin, hello, dir string, n, rps int, hold time.Duration) ([]row, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s, err := harness.Start(harness.Config{Bin: bin, DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	spec := filepath.Join(dir, "tend.yaml")
	deploy := func(release, strategy string) error {
		return os.WriteFile(spec, []byte(harness.HelloSpec(hello, n, release, strategy)), 0o644)
	}
	if err := deploy("1", harness.Rolling); err != nil {
		return nil, err
	}
	if out, err := s.Tend("deploy", "-f", spec); err != nil {
		return nil, fmt.Errorf("first deploy of %d instances: %w\n%s", n, err, out)
	}
	var rows []row
	for _, c := range changes {
		args := c.args
		if c.release != "" {
			if err := deploy(c.release, c.strategy); err != nil {
				return rows, err
			}
			args = append(append([]string{}, args...), spec)
		}
		start := time.Now()
		l := harness.StartLoad(s, rps, 5*time.Minute)
		time.Sleep(2 * time.Second)
		began := time.Now()
		var out string
		var err error
		if c.handOver {
			err = s.HandOver(time.Minute)
		} else {
			out, err = s.Tend(args...)
		}
		took := time.Since(began)
		time.Sleep(max(2*time.Second, hold-time.Since(start)))
		r := row{Result: l.Finish(), name: c.name, took: took}
		rows = append(rows, r)
		log.Info("change done", "instances", n, "change", c.name, "ok", r.OK, "failed", r.Failed, "took", took.String(), "byRevision", r.ByRevision)
		if len(r.Failures) > 0 {
			log.Warn("failed requests", "change", c.name, "first", r.Failures)
		}
		if err != nil {
			return rows, fmt.Errorf("%s with %d instances: tend %s: %w\n%s", c.name, n, strings.Join(args, " "), err, out)
		}
	}
	return rows, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

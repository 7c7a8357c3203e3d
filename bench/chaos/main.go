// Command chaos checks that tend loses nothing when things die: `tend server` killed with
// SIGKILL at random points of rollouts and under load, instances and the gateway process
// killed with SIGKILL under load, a data dir on a small filesystem that fills up, and
// slow hostile clients (slowloris, slow bodies) beside normal ones.
//
//	go run ./bench/chaos -trials 20
//	go run ./bench/chaos -only server-load,gateway   # some scenarios only
//	go run ./bench/chaos -only hostile -hostile-conns 200
//
// It prints Markdown tables; bench/run.sh puts them in docs/BENCHMARKS.md. The exit code is
// 1 when any trial was not clean.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/test/harness"
)

func main() {
	trials := flag.Int("trials", 20, "server kills, one at a random point of each rollout")
	kills := flag.Int("instance-kills", 10, "instances killed with SIGKILL, one every 3s, under load")
	crashes := flag.Int("crash-trials", 20, "server kills under load, each followed by a new server 2s later")
	gwKills := flag.Int("gateway-kills", 10, "gateway processes killed with SIGKILL under load")
	gwGap := flag.Duration("gateway-gap", 6*time.Second, "how long each gateway serves before it is killed (under 5 s, the server's crash-loop back-off delays its restart)")
	hostile := flag.Int("hostile-conns", 200, "slowloris and slow-body connections (each) beside normal clients")
	rps := flag.Int("rps", 300, "load during instance, server and gateway kills and while the disk is full")
	only := flag.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(scenarioNames, ","))
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	sel := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			if !slices.Contains(scenarioNames, n) {
				fmt.Fprintf(os.Stderr, "chaos: unknown scenario %q in -only (scenarios: %s)\n", n, strings.Join(scenarioNames, ","))
				os.Exit(2)
			}
			sel[n] = true
		}
	}
	p := params{trials: *trials, kills: *kills, crashes: *crashes, gwKills: *gwKills, gwGap: *gwGap, hostile: *hostile, rps: *rps, only: sel}
	unclean, err := run(os.Stdout, log, *root, p, *seed)
	if err != nil {
		log.Error("chaos bench", "err", err)
		os.Exit(2)
	}
	if unclean > 0 {
		log.Error("chaos: trials were not clean", "unclean", unclean)
		os.Exit(1)
	}
}

// bench is what every scenario needs: a tend built in a workspace, a log and the dice.
type bench struct {
	*harness.Workspace
	log *slog.Logger
	rng *rand.Rand
}

// scenarioNames are the names -only takes, in the order the scenarios run.
var scenarioNames = []string{"rollouts", "instances", "disk", "server-load", "gateway", "hostile"}

// params are the flags the scenarios use; only empty runs every scenario.
type params struct {
	trials, kills, crashes, gwKills, hostile, rps int
	gwGap                                         time.Duration
	only                                          map[string]bool
}

func run(w io.Writer, log *slog.Logger, root string, p params, seed uint64) (int, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	b := &bench{Workspace: ws, log: log, rng: rand.New(rand.NewPCG(seed, seed))}
	fmt.Fprintf(w, "Seed %d (`go run ./bench/chaos -seed %d` replays the kill points).\n\n", seed, seed)
	unclean := 0
	scenarios := map[string]func(io.Writer) (int, error){
		"rollouts":    func(w io.Writer) (int, error) { return b.serverKills(w, p.trials) },
		"instances":   func(w io.Writer) (int, error) { return b.instanceKills(w, p.kills, p.rps) },
		"disk":        func(w io.Writer) (int, error) { return b.fullDisk(w, p.rps) },
		"server-load": func(w io.Writer) (int, error) { return b.serverCrashes(w, p.crashes, p.rps) },
		"gateway":     func(w io.Writer) (int, error) { return b.gatewayKills(w, p.gwKills, p.rps, p.gwGap) },
		"hostile":     func(w io.Writer) (int, error) { return b.hostileClients(w, p.hostile, p.rps) },
	}
	for _, name := range scenarioNames {
		if len(p.only) > 0 && !p.only[name] {
			continue
		}
		n, err := scenarios[name](w)
		unclean += n
		if err != nil {
			return unclean, err
		}
		fmt.Fprintln(w)
	}
	return unclean, nil
}

// spec writes a hello spec with n instances into dir and returns its path.
func (b *bench) spec(dir string, n int, release, strategy string) (string, error) {
	path := filepath.Join(dir, "tend.yaml")
	return path, os.WriteFile(path, []byte(harness.HelloSpec(b.Hello, n, release, strategy)), 0o644)
}

// deployed starts a server with its data dir in data and deploys release 1 of hello with
// 3 instances, its spec in dir; it returns the server and the spec's path.
func (b *bench) deployed(dir, data string) (*harness.Server, string, error) {
	s, err := harness.Start(harness.Config{Bin: b.Bin, DataDir: data})
	if err != nil {
		return nil, "", err
	}
	spec, err := b.spec(dir, 3, "1", harness.Rolling)
	if err == nil {
		var out string
		if out, err = s.Tend("deploy", "-f", spec); err != nil {
			err = fmt.Errorf("first deploy: %w\n%s", err, out)
		}
	}
	if err != nil {
		s.Stop()
		return nil, "", err
	}
	return s, spec, nil
}

// waitFor polls fn every 200ms until it returns nil or d passes, and returns its last error.
func waitFor(d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

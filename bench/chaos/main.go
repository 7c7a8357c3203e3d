// Command chaos checks that tend loses nothing when things die: `tend server` killed with
// SIGKILL at random points of rollouts, instances killed with SIGKILL under load, and a
// data dir on a small filesystem that fills up.
//
//	go run ./bench/chaos -trials 20
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
	"time"

	"github.com/tendhq/tend/test/harness"
)

func main() {
	trials := flag.Int("trials", 20, "server kills, one at a random point of each rollout")
	kills := flag.Int("instance-kills", 10, "instances killed with SIGKILL, one every 3s, under load")
	rps := flag.Int("rps", 300, "load during instance kills and while the disk is full")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	unclean, err := run(os.Stdout, log, *root, *trials, *kills, *rps, *seed)
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

func run(w io.Writer, log *slog.Logger, root string, trials, kills, rps int, seed uint64) (int, error) {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	b := &bench{Workspace: ws, log: log, rng: rand.New(rand.NewPCG(seed, seed))}
	fmt.Fprintf(w, "Seed %d (`go run ./bench/chaos -seed %d` replays the kill points).\n\n", seed, seed)
	unclean := 0
	for _, scenario := range []func(io.Writer) (int, error){
		func(w io.Writer) (int, error) { return b.serverKills(w, trials) },
		func(w io.Writer) (int, error) { return b.instanceKills(w, kills, rps) },
		func(w io.Writer) (int, error) { return b.fullDisk(w, rps) },
	} {
		n, err := scenario(w)
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

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// instanceKills kills a random ready instance with SIGKILL every 3 s under steady load and
// counts the requests that failed; tend must restart each one and route around it.
func (b *bench) instanceKills(w io.Writer, kills, rps int) (int, error) {
	dir := filepath.Join(b.Dir, "instance-kills")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer harness.KillUnder(filepath.Join(dir, "data")) // whatever a failed scenario left running
	s, _, err := b.deployed(dir, filepath.Join(dir, "data"))
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	l := harness.StartLoad(s, rps, time.Duration(kills+2)*3*time.Second+time.Minute)
	time.Sleep(2 * time.Second)
	killed := 0
	for i := 0; i < kills; i++ {
		st, err := s.Status("hello")
		if err != nil {
			l.Finish()
			return 1, err
		}
		var ready []int
		for _, in := range st.Running {
			if in.State == "ready" {
				ready = append(ready, in.PID)
			}
		}
		if len(ready) > 0 {
			if syscall.Kill(ready[b.rng.IntN(len(ready))], syscall.SIGKILL) == nil {
				killed++
			}
		}
		time.Sleep(3 * time.Second)
	}
	restarted := 0
	settle := waitFor(time.Minute, func() error {
		st, err := s.Status("hello")
		if err != nil {
			return err
		}
		restarted = 0
		for _, in := range st.Running {
			if in.State != "ready" {
				return fmt.Errorf("instance %s is %s", in.ID, in.State)
			}
			restarted += in.Restarts
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	r := l.Finish()
	fmt.Fprintf(w, "### Instances killed with SIGKILL under load\n\n")
	fmt.Fprintf(w, "3 instances, %d req/s through the gateway, a random ready instance killed every 3 s.\n\n", rps)
	fmt.Fprintln(w, "| kills | restarts seen | requests | failed | p50 | p99 | max | clean |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---|")
	clean := "yes"
	unclean := 0
	if r.Failed > 0 || settle != nil || restarted < killed {
		clean, unclean = fmt.Sprintf("**no**: %d failed, settle: %v", r.Failed, settle), 1
		b.log.Warn("instance kills", "failures", r.Failures)
	}
	fmt.Fprintf(w, "| %d | %d | %d | %d | %s | %s | %s | %s |\n", killed, restarted, r.OK+r.Failed, r.Failed,
		ms(r.Percentile(0.5)), ms(r.Percentile(0.99)), ms(r.Percentile(1)), clean)
	return unclean, nil
}

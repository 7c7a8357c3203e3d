package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

func TestHandOverToANewServerDropsNoRequest(t *testing.T) {
	s, dir := deployed(t)
	old := s.PID()
	before := pids(s)
	start := time.Now()
	l := startLoad(s, 200, 2*time.Minute)
	time.Sleep(2 * time.Second)
	if err := s.HandOver(time.Minute); err != nil {
		t.Fatal(err)
	}
	if s.CurrentPID() == old || alive(old) {
		t.Fatalf("server %d still serves after the hand-over", old)
	}
	holdLoad(t, l, start, 10*time.Second, "hand-over to a new server")

	after := pids(s)
	if len(after) != 3 || after[0] != before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Errorf("instances after the hand-over have PIDs %v, want the same as before %v", after, before)
	}
	out := s.mustTend("deploy", "-f", writeSpec(t, dir, specWith("2", rolling)))
	if !strings.Contains(out, "hello revision 2 serves") {
		t.Errorf("the new server does not deploy:\n%s", out)
	}
}

func TestHandOverToABrokenBinaryKeepsTheOldServer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tend")
	b, err := os.ReadFile(tendBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServerWith(t, harness.Config{Bin: bin, DataDir: t.TempDir()})
	hs := s.Server
	hs.Bin = tendBin // the CLI: any tend will do, the server runs the copy
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), specWith("1", rolling)))
	// the upgrade on disk is broken: rename a bad file over the binary, as a package manager would
	bad := bin + ".new"
	if err := os.WriteFile(bad, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bad, bin); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l := startLoad(s, 100, time.Minute)
	if err := syscall.Kill(s.PID(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the server to refuse the broken binary", func() error {
		if !strings.Contains(hs.Log(), "hand over to a new server: not started") {
			return errorf("no refusal in the log yet")
		}
		return nil
	})
	holdLoad(t, l, start, 5*time.Second, "refused hand-over")
	if hs.Exited() || s.CurrentPID() != s.PID() {
		t.Fatalf("the old server should keep serving (exited %v, server.pid %d, pid %d)", hs.Exited(), s.CurrentPID(), s.PID())
	}
	if st := s.status("hello"); len(st.Running) != 3 {
		t.Errorf("%d instances after the refused hand-over, want 3", len(st.Running))
	}
}

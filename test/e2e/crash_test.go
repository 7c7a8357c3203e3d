package e2e

import (
	"net/http"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func pids(s *server) []int {
	var out []int
	for _, in := range s.status("hello").Running {
		out = append(out, in.PID)
	}
	sort.Ints(out)
	return out
}

func TestServerCrashKeepsInstancesAndNewServerAdoptsThem(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	spec := writeSpec(t, t.TempDir(), specWith("1", rolling))
	s.mustTend("deploy", "-f", spec)
	before := pids(s)
	if len(before) != 3 {
		t.Fatalf("%d instances before the crash, want 3", len(before))
	}
	s.crash()
	for _, pid := range before {
		if !alive(pid) {
			t.Fatalf("instance %d died with the server", pid)
		}
	}
	s2 := startServer(t, data)
	waitFor(t, 60*time.Second, "the new server to adopt the instances and serve", func() error {
		client := &http.Client{Timeout: 2 * time.Second}
		if code, rev, _, err := s2.get(client, "/"); err != nil || code != 200 || rev != "1" {
			return errorf("GET /: %d rev %q %v", code, rev, err)
		}
		return nil
	})
	after := pids(s2)
	if len(after) != 3 || after[0] != before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Fatalf("instances after re-adoption have PIDs %v, want the same as before %v", after, before)
	}
	s2.stop()
	waitFor(t, 30*time.Second, "instances to stop with the server", func() error {
		for _, pid := range before {
			if alive(pid) {
				return errorf("instance %d still runs after a normal stop", pid)
			}
		}
		return nil
	})
}

func TestKeepInstancesLeavesThemRunning(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, "--keep-instances")
	spec := writeSpec(t, t.TempDir(), specWith("1", rolling))
	s.mustTend("deploy", "-f", spec)
	before := pids(s)
	s.stop()
	t.Cleanup(func() {
		for _, pid := range before {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	for _, pid := range before {
		if !alive(pid) {
			t.Fatalf("instance %d stopped although --keep-instances was set", pid)
		}
	}
	s2 := startServer(t, data)
	waitFor(t, 60*time.Second, "adoption", func() error {
		if got := pids(s2); len(got) != 3 || got[0] != before[0] {
			return errorf("pids %v, want %v", got, before)
		}
		return nil
	})
}

func TestKilledInstanceIsRestartedWithoutFailedRequests(t *testing.T) {
	s, _ := deployed(t)
	start := time.Now()
	l := startLoad(s, 200, time.Minute)
	time.Sleep(2 * time.Second)
	victim := s.status("hello").Running[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the instance to be restarted", func() error {
		for _, in := range s.status("hello").Running {
			if in.ID == victim.ID && in.PID != victim.PID && in.State == "ready" && in.Restarts >= 1 {
				return nil
			}
		}
		return errorf("instance %s not restarted yet", victim.ID)
	})
	holdLoad(t, l, start, 10*time.Second, "instance killed with -9")
}

func TestBadSpecChangesNothing(t *testing.T) {
	s, dir := deployed(t)
	before := s.mustTend("history", "hello", "-o", "json")
	spec := writeSpec(t, dir, strings.Replace(specWith("2", rolling), "instances: 3", "instances: three", 1))
	out, err := s.tend("deploy", "-f", spec)
	if exitCode(err) != 4 {
		t.Fatalf("deploy of an invalid spec: exit %d, want 4:\n%s", exitCode(err), out)
	}
	if !strings.Contains(out, "tend.yaml:3:") || !strings.Contains(out, "instances") {
		t.Errorf("error does not name file, line and field:\n%s", out)
	}
	after := s.mustTend("history", "hello", "-o", "json")
	if before != after {
		t.Errorf("history changed after a rejected spec:\nbefore %s\nafter %s", before, after)
	}
	if _, err := os.Stat(spec); err != nil {
		t.Fatal(err)
	}
}

func TestScaleSurvivesARestart(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), specWith("1", rolling)))
	ready := func(s *server, n int) func() error {
		return func() error {
			st := s.status("hello")
			count := 0
			for _, in := range st.Running {
				if in.State == "ready" {
					count++
				}
			}
			if count != n || len(st.Running) != n || st.Instances != n {
				return errorf("%d of %d running instances ready, want %d (desired %d)", count, len(st.Running), n, st.Instances)
			}
			return nil
		}
	}
	s.mustTend("scale", "hello", "5")
	waitFor(t, 30*time.Second, "5 ready instances", ready(s, 5))
	s.mustTend("scale", "hello", "2")
	waitFor(t, 30*time.Second, "2 instances", ready(s, 2))
	s.crash()
	s2 := startServer(t, data)
	waitFor(t, 30*time.Second, "2 instances after the restart", ready(s2, 2))
}

package process

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/store"
)

// markerVar is set in every instance's environment to a mark of the data dir that owns
// it (ownerMark), so that processes a crashed server started but never recorded can be
// found and stopped. It is not the path: an instance has no business knowing where
// tend keeps its state. oldMarkerVar, the path itself, is what tend set before.
const (
	markerVar    = "TEND_OWNER"
	oldMarkerVar = "TEND_DATA_DIR"
)

// ownerMark names a data dir without saying where it is.
func ownerMark(dataDir string) string {
	h := sha256.Sum256([]byte(dataDir))
	return hex.EncodeToString(h[:8])
}

// adopt takes over the instances recorded in the store, stops strays and removes
// registry entries that no live instance accounts for.
func (s *Supervisor) adopt(ctx context.Context) error {
	recs, err := store.List[record](ctx, s.o.Store, store.InstancesPrefix)
	if err != nil {
		return fmt.Errorf("load instance records: %w", err)
	}
	known := map[int]bool{}
	adopted := map[string]bool{}
	var stopped []*instance
	s.mu.Lock()
	for _, r := range recs {
		in := newInstance(s, r)
		alive := r.PID > 0 && processMatches(r.PID, r.StartTime)
		if r.Stopping {
			// tend was stopping it when it went down: finish the stop, never restart it
			if !alive {
				stopped = append(stopped, in)
				continue
			}
			in.stopping, in.stopAsked, in.state = true, true, runtime.Stopping
			in.message = "was being stopped when tend went down; stopping it"
			close(in.stop)
		}
		if alive {
			known[r.PID] = true
			adopted[r.ID] = true
			in.limits = s.limits.describe(r.Template.Resources)
			if uid, err := procUID(r.PID); s.o.User.separate() && err == nil && uid == uint32(os.Geteuid()) {
				s.log.Warn("an adopted instance runs as tend's user, started so by an older tend; it runs as a user of its own from its next start (tend restart APP replaces it now)",
					"app", r.App, "instance", r.ID, "pid", r.PID)
			}
		} else {
			in.rec.Restarts++
			in.message = "its process ended while tend was down; restarting"
		}
		s.instances[r.ID] = in
		s.wg.Add(1)
		go in.run(alive)
	}
	s.mu.Unlock()
	for _, in := range stopped {
		in.cleanup()
	}
	s.stopStrays(known)
	s.cleanRegistry(ctx, adopted)
	return nil
}

// procStatusField is a field of /proc/PID/status ("Uid", "Groups", ...), its values
// separated by single spaces.
func procStatusField(pid int, field string) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " "), nil
		}
	}
	return "", fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// procUID is the real uid pid runs as.
func procUID(pid int) (uint32, error) {
	v, err := procStatusField(pid, "Uid")
	if err != nil {
		return 0, err
	}
	real, _, _ := strings.Cut(v, " ")
	n, err := strconv.ParseUint(real, 10, 32)
	return uint32(n), err
}

// processMatches reports whether pid runs and is the process that started at startTime.
func processMatches(pid int, start uint64) bool {
	st, err := StartTime(pid)
	return err == nil && st == start
}

// StartTime reads field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// the command name (field 2) may hold spaces and parentheses: fields start after the last ')'
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	if f[0] == "Z" {
		return 0, fmt.Errorf("process %d is a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// watchAdopted follows a process that is not our child: it cannot be waited for, so it is polled.
func watchAdopted(ctx context.Context, pid int, start uint64) *proc {
	p := &proc{pid: pid, exited: make(chan struct{})}
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if !processMatches(pid, start) {
				p.status = "exited (re-adopted process: exit status unknown)"
				close(p.exited)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// stopStrays stops processes started for this data dir that no record accounts for.
func (s *Supervisor) stopStrays(known map[int]bool) {
	marker := []byte(markerVar + "=" + s.owner + "\x00")
	oldMarker := []byte(oldMarkerVar + "=" + s.dataDir + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var wg sync.WaitGroup
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() || known[pid] {
			continue
		}
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, marker) && !bytes.Contains(env, oldMarker) {
			continue
		}
		s.log.Warn("stopping a stray instance process that no record accounts for", "pid", pid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			stopPID(pid, 5*time.Second)
		}()
	}
	wg.Wait()
}

// stopPID sends SIGTERM, then SIGKILL after grace.
func stopPID(pid int, grace time.Duration) {
	start, err := StartTime(pid)
	if err != nil {
		return
	}
	signalGroup(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !processMatches(pid, start) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	signalGroup(pid, syscall.SIGKILL)
}

// cleanRegistry removes tend-managed registry entries of instances that were not re-adopted.
func (s *Supervisor) cleanRegistry(ctx context.Context, adopted map[string]bool) {
	eps, err := store.List[store.Endpoint](ctx, s.o.Store, store.ServicesPrefix)
	if err != nil {
		s.log.Error("list registry", "err", err)
		return
	}
	for _, ep := range eps {
		if ep.Metadata["managedBy"] != "tend" || adopted[ep.Metadata["instance"]] {
			continue
		}
		if err := s.o.Store.Delete(ctx, store.ServiceKey(ep.Name, ep.HostPort())); err != nil {
			s.log.Error("remove stale registry entry", "endpoint", ep.HostPort(), "err", err)
		}
	}
}

// signalGroup sends sig to an instance and its process group (it leads its own session).
// It refuses pids that would address tend itself or every process.
func signalGroup(pid int, sig syscall.Signal) {
	if pid <= 1 || pid == os.Getpid() {
		return
	}
	_ = syscall.Kill(-pid, sig)
	_ = syscall.Kill(pid, sig)
}

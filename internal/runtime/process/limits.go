package process

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tendhq/tend/internal/spec"
)

// limiter applies resource limits with cgroup v2 when tend may write the hierarchy.
type limiter struct {
	root string // tend's cgroup directory, or "" when limits cannot be enforced
	why  string // why not, when root is ""
	log  *slog.Logger
}

func newLimiter(log *slog.Logger) limiter {
	const fs = "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(fs, "cgroup.controllers")); err != nil {
		return limiter{why: "cgroup v2 is not mounted at " + fs, log: log}
	}
	root := filepath.Join(fs, "tend")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return limiter{why: "cannot create " + root + ": " + err.Error(), log: log}
	}
	// delegate the cpu and memory controllers to tend's subtree
	if err := os.WriteFile(filepath.Join(fs, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644); err != nil {
		return limiter{why: "cannot enable cpu and memory controllers: " + err.Error(), log: log}
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644); err != nil {
		return limiter{why: "cannot enable cpu and memory controllers in " + root + ": " + err.Error(), log: log}
	}
	return limiter{root: root, log: log}
}

// describe says whether limits r would be enforced.
func (l limiter) describe(r spec.Resources) string {
	switch {
	case r.MilliCPU == 0 && r.MemoryBytes == 0:
		return "none requested"
	case l.root == "":
		return "not enforced: " + l.why
	}
	return "enforced: cgroup v2"
}

// apply puts pid in a cgroup of its own with r's limits, and says what it did.
func (l limiter) apply(id string, pid int, r spec.Resources) string {
	desc := l.describe(r)
	if l.root == "" || (r.MilliCPU == 0 && r.MemoryBytes == 0) {
		return desc
	}
	dir := filepath.Join(l.root, id)
	fail := func(err error) string {
		l.log.Warn("resource limits not applied", "instance", id, "err", err)
		return "not enforced: " + err.Error()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	if r.MilliCPU > 0 {
		// quota per 100ms period
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d 100000", r.MilliCPU*100)), 0o644); err != nil {
			return fail(err)
		}
	}
	if r.MemoryBytes > 0 {
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(r.MemoryBytes, 10)), 0o644); err != nil {
			return fail(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fail(err)
	}
	return desc
}

// release removes an instance's cgroup.
func (l limiter) release(id string) {
	if l.root != "" {
		_ = os.Remove(filepath.Join(l.root, id))
	}
}

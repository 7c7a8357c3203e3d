package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ProcessesUnder lists the processes whose executable lies under dir, such as the
// instances started from the artifacts in a data dir.
func ProcessesUnder(dir string) []int {
	dir, _ = filepath.EvalSymlinks(dir)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillUnder kills with SIGKILL every process whose executable lies under dir: the last
// resort of a test or bench whose server died without stopping its instances.
func KillUnder(dir string) {
	for _, pid := range ProcessesUnder(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

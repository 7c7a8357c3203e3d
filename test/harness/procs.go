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

// KillUnder kills with SIGKILL every process whose executable lies under the data dir
// dir, and the gateway the data dir records (it runs tend's binary, not one under dir):
// the last resort of a test or bench whose server died without stopping its instances.
func KillUnder(dir string) {
	for _, pid := range ProcessesUnder(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	KillGateway(dir)
}

// GatewayPID is the pid of the gateway process serving the data dir
// (DATA/gateway/gateway.pid); 0 when none is recorded.
func GatewayPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "gateway", "gateway.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// KillGateway ends the data dir's gateway process with SIGKILL, if one runs: the
// gateway outlives a crashed server (and one stopped with --keep-instances).
func KillGateway(dataDir string) {
	if pid := GatewayPID(dataDir); pid > 0 && Alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

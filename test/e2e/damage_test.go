package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// TestADamagedDataDirStopsTheServerWithAClearMessage: tend server on a data dir whose
// store was damaged exits at once with code 1 and a message that names the damaged
// file and the way out; no hang, no stack trace.
func TestADamagedDataDirStopsTheServerWithAClearMessage(t *testing.T) {
	damages := map[string]func(t *testing.T, member string){
		"WAL directory missing": func(t *testing.T, member string) { os.RemoveAll(filepath.Join(member, "wal")) },
		"WAL truncated to 0 bytes": func(t *testing.T, member string) {
			files, _ := filepath.Glob(filepath.Join(member, "wal", "*.wal"))
			for _, f := range files {
				os.Truncate(f, 0)
			}
		},
		"database meta pages overwritten": func(t *testing.T, member string) {
			f, err := os.OpenFile(filepath.Join(member, "snap", "db"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt(make([]byte, 16<<10), 0)
			f.Close()
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			s := startServer(t, data)
			s.stop()
			damage(t, filepath.Join(data, "etcd", "member"))
			api, _ := harness.FreeAddr()
			gw, _ := harness.FreeAddr()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			out, err := exec.CommandContext(ctx, tendBin, "server", "--data", data, "--api", api, "--gateway", gw).CombinedOutput()
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("tend server on a damaged data dir: %v after %s, want exit code 1:\n%s", err, took.Round(time.Millisecond), out)
			}
			first := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
			t.Logf("| %s | exit 1 | %.1f s | %.160s |", name, took.Seconds(), first)
			if !strings.Contains(string(out), "the store is damaged") || !strings.Contains(string(out), "move it aside") {
				t.Errorf("the message does not say what is damaged and what to do:\n%s", out)
			}
			if strings.Contains(string(out), "goroutine ") || strings.Contains(string(out), "panic:") {
				t.Errorf("a stack trace:\n%s", out)
			}
		})
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// TestDamagedSilencesStopTheServerAndMovingThemAsideStartsIt: tend server whose
// Alertmanager silences file was cut short exits at once with code 1 and a message that
// names the file and the way out; moving the file aside, as the message says, starts it
// again on the same ports, without the silences.
func TestDamagedSilencesStopTheServerAndMovingThemAsideStartsIt(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	token, err := os.ReadFile(filepath.Join(data, "token"))
	if err != nil {
		t.Fatal(err)
	}
	sil := fmt.Sprintf(`{"matchers":[{"name":"app","value":"hello","isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"ops","comment":"maintenance"}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	req, _ := http.NewRequest("POST", "http://"+s.API+"/alertmanager/api/v2/silences", strings.NewReader(sil))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST a silence: %s", resp.Status)
	}
	s.stop()
	file := filepath.Join(data, "alerting", "alertmanager", "silences")
	st, err := os.Stat(file)
	if err != nil || st.Size() == 0 {
		t.Fatalf("the stopped server left no silences: %v", err)
	}
	if err := os.Truncate(file, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, tendBin, "server", "--data", data, "--api", s.API, "--gateway", s.Gateway).CombinedOutput()
	took := time.Since(start)
	if exitCode(err) != 1 || took > 10*time.Second {
		t.Fatalf("tend server on damaged silences: %v after %s, want exit code 1 within 10 s:\n%s", err, took.Round(time.Millisecond), out)
	}
	var said string // the error, after the log lines of what started before the check
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "tend: ") {
			said = l
		}
	}
	t.Logf("| silences cut in half | exit 1 | %.1f s | %.200s |", took.Seconds(), said)
	for _, want := range []string{file + " does not read back", "restore " + file, "mv " + file + " " + file + ".damaged"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the message does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "goroutine ") || strings.Contains(string(out), "panic:") {
		t.Errorf("a stack trace:\n%s", out)
	}
	if err := os.Rename(file, file+".damaged"); err != nil {
		t.Fatal(err)
	}
	s2 := startServerWith(t, harness.Config{DataDir: data, API: s.API, Gateway: s.Gateway})
	req, _ = http.NewRequest("GET", "http://"+s2.API+"/alertmanager/api/v2/silences", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("silences after moving the file aside: %s %s, want none", resp.Status, body)
	}
}

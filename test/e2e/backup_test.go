package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/tendhq/tend/internal/api/v1"
)

// TestDisasterRestoreBringsBackAppsHistoryIncidentsAndSilences is the disaster: two
// apps deployed (one on its second revision), an incident with a comment, a silence;
// tend backup create; the server stopped with its instances and its data dir deleted;
// tend backup restore onto a new data dir; a server started there serves both apps on
// their revisions, with the history, the incident, the silence and a rollback to the
// first revision's artifact.
func TestDisasterRestoreBringsBackAppsHistoryIncidentsAndSilences(t *testing.T) {
	rules := writeFile(t, "rules.yaml", alwaysFiring("1s", [2]string{"QueueStuck", "critical"}))
	old := filepath.Join(t.TempDir(), "data")
	s := startServer(t, old, "--rules", rules, "--builtin-rules=false")
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, specWith("1", rolling)))
	s.mustTend("deploy", "-f", writeSpec(t, dir, specWith("2", rolling)))
	shop := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, shop, strings.Replace(specWith("7", rolling), "app: hello", "app: shop", 1)+"route: {hosts: [shop.test]}\n"))

	in := firstIncident(t, s)
	id := fmt.Sprint(in.ID)
	s.mustTend("incident", "comment", id, "-m", "written before the disaster", "--by", "ana")
	silence := addSilence(t, s, "alertname", "Muted", "known noise before the disaster")

	archive := filepath.Join(t.TempDir(), "tend.tar.zst")
	out := s.mustTend("backup", "create", "-o", archive)
	if !strings.Contains(out, "checked against its manifest") || !strings.Contains(out, "2 apps (hello, shop)") || !strings.Contains(out, "3 revisions") {
		t.Fatalf("tend backup create:\n%s", out)
	}
	var b []byte
	pids := map[int]bool{}
	for _, app := range []string{"hello", "shop"} {
		for _, r := range s.status(app).Running {
			pids[r.PID] = true
		}
	}
	s.stop()
	for pid := range pids {
		if alive(pid) {
			t.Fatalf("instance %d runs after the server stopped", pid)
		}
	}
	if err := os.RemoveAll(old); err != nil {
		t.Fatal(err)
	}

	// a damaged archive restores nothing
	// a short path: the gateway's and etcd's unix sockets are in the data dir
	short, err := os.MkdirTemp("", "tb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	fresh := filepath.Join(short, "restored")
	b, err = os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar.zst")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.tend("backup", "restore", cut, "--data", fresh); exitCode(err) != 4 || !strings.Contains(out, "nothing was restored") {
		t.Fatalf("restore of a cut archive: exit %d, want 4:\n%s", exitCode(err), out)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s behind (%v)", fresh, err)
	}

	start := time.Now()
	out = s.mustTend("backup", "restore", archive, "--data", fresh)
	if !strings.Contains(out, "restored tend.tar.zst into "+fresh) {
		t.Fatalf("tend backup restore:\n%s", out)
	}
	restored := startServer(t, fresh)
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 60*time.Second, "both apps to serve their revisions", func() error {
		if code, rev, body, err := restored.get(client, "/"); err != nil || code != 200 || rev != "2" {
			return fmt.Errorf("hello: %d rev %q %v %q", code, rev, err, body)
		}
		if code, rev, body, err := restored.get(client, "/", "Host", "shop.test"); err != nil || code != 200 || rev != "1" || !strings.Contains(body, "hello from shop") {
			return fmt.Errorf("shop: %d rev %q %v %q", code, rev, err, body)
		}
		return nil
	})
	t.Logf("RTO: %s from tend backup restore to both apps serving", time.Since(start).Round(100*time.Millisecond))

	if st := restored.status("hello"); len(st.Running) != 3 || st.Rollout.Stable != 2 {
		t.Fatalf("hello after the restore: %d instances on stable %d, want 3 on 2", len(st.Running), st.Rollout.Stable)
	}
	var hist v1.History
	out = restored.mustTend("history", "hello", "-o", "json")
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist.Revisions) != 2 || hist.Revisions[0].Number != 2 || hist.Revisions[1].Number != 1 || len(hist.Events) == 0 {
		t.Fatalf("tend history hello after the restore (%v): want revisions 2 and 1 and their events:\n%s", err, out)
	}
	got := incidentsOf(t, restored)
	if len(got) != 1 || got[0].ID != in.ID {
		t.Fatalf("incidents after the restore: %+v, want #%d only", got, in.ID)
	}
	if out := restored.mustTend("incident", "show", id); !strings.Contains(out, "written before the disaster (ana)") {
		t.Fatalf("tend incident show after the restore lacks the comment:\n%s", out)
	}
	code, body := restored.apiGet("/alertmanager/api/v2/silences")
	if code != 200 || !strings.Contains(body, silence) || !strings.Contains(body, "known noise before the disaster") {
		t.Fatalf("silences after the restore (%d): %s", code, body)
	}
	// the first revision's artifact came back too: a rollback runs it
	restored.mustTend("rollback", "hello")
	waitFor(t, 60*time.Second, "the rollback to revision 1", func() error {
		if code, rev, _, err := restored.get(client, "/"); err != nil || code != 200 || rev != "1" {
			return fmt.Errorf("%d rev %q %v", code, rev, err)
		}
		return nil
	})
}

// addSilence adds a silence of name=value through the Alertmanager API and returns its id.
func addSilence(t *testing.T, s *server, name, value, comment string) string {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"matchers": []map[string]any{{"name": name, "value": value, "isRegex": false, "isEqual": true}},
		"startsAt": time.Now().UTC().Format(time.RFC3339), "endsAt": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"createdBy": "ana", "comment": comment,
	})
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.API+"/alertmanager/api/v2/silences", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 || res.SilenceID == "" {
		t.Fatalf("add a silence: %d %v", resp.StatusCode, err)
	}
	return res.SilenceID
}

// TestTheServerBacksItsStateUpOnItsScheduleAndKeepsTheNewest: with a two-second
// schedule and two kept, DATA/backups holds the two newest archives, each restorable;
// tend backup run adds one now.
func TestTheServerBacksItsStateUpOnItsScheduleAndKeepsTheNewest(t *testing.T) {
	s := startServer(t, t.TempDir(), "--state-backup-schedule", "@every 2s", "--state-backup-keep", "2")
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), specWith("1", rolling)))
	first := ""
	waitFor(t, 30*time.Second, "three scheduled backups, the two newest kept", func() error {
		state, ok := backupList(t, s, "", "state")
		switch {
		case !ok || len(state.Archives) == 0:
			return fmt.Errorf("none yet: %+v", state)
		case first == "":
			first = state.Archives[0].Name
		case len(state.Archives) == 2 && state.Archives[0].Name != first:
			for _, a := range state.Archives {
				for _, f := range []string{a.Name, a.Name + ".sha256"} {
					if _, err := os.Stat(filepath.Join(s.DataDir, "backups", f)); err != nil {
						return fmt.Errorf("a listed archive's file (pruned since?): %w", err)
					}
				}
			}
			return nil
		}
		// a list between a run's archive and its pruning may show three
		return fmt.Errorf("the first, %s, is still kept: %+v", first, state.Archives)
	})
	out := s.mustTend("backup", "run", "-o", "json")
	var a v1.BackupArchive
	if err := json.Unmarshal([]byte(out), &a); err != nil || !strings.HasPrefix(a.Name, "tend-state-") || a.Size == 0 {
		t.Fatalf("tend backup run -o json: %v\n%s", err, out)
	}
	short, err := os.MkdirTemp("", "tb-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(short)
	out = s.mustTend("backup", "restore", filepath.Join(s.DataDir, "backups", a.Name), "--data", filepath.Join(short, "d"), "-o", "json")
	var m struct {
		Apps []string `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || len(m.Apps) != 1 || m.Apps[0] != "hello" {
		t.Fatalf("tend backup restore -o json of a scheduled archive: %v\n%s", err, out)
	}
	if out := s.mustTend("backup", "list"); !strings.Contains(out, "(tend)") || !strings.Contains(out, "@every 2s to "+filepath.Join(s.DataDir, "backups")) {
		t.Fatalf("tend backup list:\n%s", out)
	}
}

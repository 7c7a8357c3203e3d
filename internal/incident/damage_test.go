package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tendhq/tend/internal/store"
)

// errorLines are the ERROR lines of a JSON log whose msg contains what.
func errorLines(log, what string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["level"] == "ERROR" && strings.Contains(m["msg"].(string), what) {
			out = append(out, m)
		}
	}
	return out
}

// reopen opens the manager again on the env's store, logging into log; closeStore
// closes the store (and runs at the end of the test otherwise).
func (e *env) reopen(log *bytes.Buffer) (m *Manager, st *store.Store, closeStore func()) {
	e.t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: filepath.Join(e.dir, "data")})
	if err != nil {
		e.t.Fatal(err)
	}
	var once sync.Once
	closeStore = func() { once.Do(func() { st.Close() }) }
	e.t.Cleanup(closeStore)
	m, err = Open(context.Background(), Options{Store: st, Config: e.cfg, Actions: e.act, Dir: filepath.Join(e.dir, "incidents"),
		Logger: slog.New(slog.NewJSONHandler(log, nil))})
	if err != nil {
		e.t.Fatalf("Open with a record that does not decode: %v, want it to start", err)
	}
	return m, st, closeStore
}

// damage writes v, which does not decode as what tend keeps under key (a record of
// another version of tend, or edited by hand), and returns its bytes.
func (e *env) damage(key string, v any) []byte {
	e.t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: filepath.Join(e.dir, "data")})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(context.Background(), key, v); err != nil {
		e.t.Fatal(err)
	}
	recs, err := st.Records(context.Background(), key)
	if err != nil || len(recs) != 1 {
		e.t.Fatalf("read back %s: %v, %v", key, recs, err)
	}
	return recs[0].Value
}

// An incident whose record does not decode does not stop the server: it is logged with a
// copy of its bytes, the other incidents list as before, and its id is not reused.
func TestAnIncidentRecordThatDoesNotDecodeIsSetAside(t *testing.T) {
	e := newEnv(t, "")
	e.receive(msg("a", "firing", highErrors))
	e.receive(msg("b", "firing", highErrors))
	e.stop()
	raw := e.damage(store.IncidentKey(2), map[string]any{"id": "two", "status": []int{1}})

	var log bytes.Buffer
	m, st, _ := e.reopen(&log)
	copyPath := filepath.Join(e.dir, "incidents", DamagedDir, "incident-2.json")
	logged := errorLines(log.String(), "does not decode")
	if len(logged) != 1 || logged[0]["key"] != store.IncidentKey(2) || logged[0]["copy"] != copyPath {
		t.Fatalf("want one error naming %s and the copy %s; log:\n%s", store.IncidentKey(2), copyPath, log.String())
	}
	if kept, err := os.ReadFile(copyPath); err != nil || !bytes.Equal(kept, raw) {
		t.Errorf("the copy holds %q (%v), want %q", kept, err, raw)
	}
	list, err := m.List(context.Background(), true)
	if err != nil || len(list) != 1 || list[0].ID != 1 {
		t.Fatalf("tend incidents --all: %+v, %v; want incident 1", list, err)
	}
	if _, err := m.Get(context.Background(), 2); err == nil || !strings.Contains(err.Error(), "does not decode") {
		t.Errorf("tend incident show 2: %v, want an error that says its record does not decode", err)
	}
	if err := m.Receive(context.Background(), msg("c", "firing", highErrors)); err != nil {
		t.Fatal(err)
	}
	if list, _ := m.List(context.Background(), false); len(list) != 2 || list[0].ID != 3 {
		t.Fatalf("open incidents after a new alert group: %+v, want 3 and 1", list)
	}
	recs, err := st.Records(context.Background(), store.IncidentKey(2))
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Value, raw) {
		t.Errorf("the damaged record was overwritten: %+v, %v", recs, err)
	}
}

// A remediation state that does not decode turns remediation off, says so and how to turn
// it on again; turning it on writes a state that decodes.
func TestARemediationStateThatDoesNotDecodeTurnsRemediationOff(t *testing.T) {
	e := newEnv(t, rollbackRunbook)
	e.stop()
	e.damage(store.RemediationKey, map[string]any{"enabled": "yes"})

	var log bytes.Buffer
	m, _, closeStore := e.reopen(&log)
	logged := errorLines(log.String(), "remediation state does not decode")
	if len(logged) != 1 || logged[0]["key"] != store.RemediationKey || !strings.Contains(logged[0]["msg"].(string), "tend remediation on") {
		t.Fatalf("want one error naming %s and the way out; log:\n%s", store.RemediationKey, log.String())
	}
	if r := m.Remediation(); r.Enabled || !strings.Contains(r.ChangedBy, "did not decode") {
		t.Fatalf("remediation: %+v, want it off, saying why", r)
	}
	// the runbook that rolls back on this alert is skipped
	if err := m.Receive(context.Background(), msg("a", "firing", highErrors)); err != nil {
		t.Fatal(err)
	}
	if in, err := m.Get(context.Background(), 1); err != nil || kinds(in) != "opened alert-fired skipped" || len(e.act.Calls()) != 0 {
		t.Fatalf("with remediation off: timeline %s (%v), actions %q", kinds(in), err, e.act.Calls())
	}
	if _, err := m.SetRemediation(context.Background(), true, "ana"); err != nil {
		t.Fatal(err)
	}
	closeStore()
	log.Reset()
	m, _, _ = e.reopen(&log)
	if r := m.Remediation(); !r.Enabled || len(errorLines(log.String(), "")) != 0 {
		t.Fatalf("after tend remediation on and a restart: %+v; log:\n%s", r, log.String())
	}
}

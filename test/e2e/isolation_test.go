package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// An app's instances run as a user of their own when tend runs as root (as CI runs it):
// a compromised app cannot read tend's token, look into its data dir or signal it.
func TestInstancesCannotDriveTend(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("instances are isolated only when tend runs as root (as any other user they run as tend's, as the README says): run the tests as root (.ci/run does)")
	}
	data := t.TempDir()
	s := startServer(t, data)
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "intruder")
	dir := t.TempDir()
	s.mustTend("deploy", "-f", writeSpec(t, dir, fmt.Sprintf(`app: intruder
build: {main: %s}
instances: 1
env: {PROBE_DATA: %s, PROBE_PID: "%d"}
health:
  readiness: {http: /ready, interval: 300ms, timeout: 250ms}
`, src, data, s.CurrentPID())))
	in := s.status("intruder").Running[0]
	resp, err := http.Get("http://" + in.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		UID, GID                                                               int
		ReadToken, ListData, ListEtcd, ListArtifacts, WriteWorkdir, SignalTend string
		ToldDataDir                                                            bool
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	t.Logf("the instance found: %+v", got)
	if got.UID == 0 || got.GID == 0 {
		t.Errorf("the instance runs as uid %d gid %d, want a user of its own", got.UID, got.GID)
	}
	for what, res := range map[string]string{"read DATA/token": got.ReadToken, "list DATA": got.ListData, "list DATA/etcd": got.ListEtcd, "list DATA/artifacts": got.ListArtifacts, "signal tend server": got.SignalTend} {
		if res == "ok" {
			t.Errorf("the instance could %s", what)
		}
	}
	if got.WriteWorkdir != "ok" {
		t.Errorf("the instance could not write its working dir: %s", got.WriteWorkdir)
	}
	if got.ToldDataDir {
		t.Error("TEND_DATA_DIR is in the instance's environment")
	}
	// the token still works for tend's own user, and the app is served
	s.mustTend("status", "intruder")
	if st := s.status("intruder"); len(st.Running) != 1 || st.Running[0].State != "ready" {
		t.Errorf("intruder: %+v", st.Running)
	}
}

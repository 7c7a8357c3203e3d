package process

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tendhq/tend/internal/runtime"
)

// procStatus reads a field of /proc/PID/status, like "Uid".
func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	v, err := procStatusField(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestInstancesOfEachAppRunAsAUserOfTheirOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("instances run as users of their own only when tend runs as root: run the tests as root (.ci/run does)")
	}
	e := newEnv(t)
	for _, d := range []string{filepath.Dir(e.dir), filepath.Dir(hello)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	// what tend keeps in the data dir is closed to instances
	if err := os.WriteFile(filepath.Join(e.dir, "token"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := e.supervisor(Options{User: User{Mode: PerApp, Name: "app"}})
	other := template(1, nil)
	other.App = "other"
	for _, set := range []runtime.Set{{Template: template(1, nil), Replicas: 2}, {Template: other, Replicas: 1}} {
		if err := s.Apply(context.Background(), set); err != nil {
			t.Fatal(err)
		}
	}
	hellos := e.readyCount(s, 2)
	var others []runtime.Instance
	e.waitFor("the other app's instance", func() error {
		others = s.Instances("other")
		if len(others) != 1 || others[0].State != runtime.Ready {
			return os.ErrNotExist
		}
		e.pids.Store(others[0].PID, true)
		return nil
	})
	uidOf := func(in runtime.Instance) uint32 {
		t.Helper()
		ids := strings.Fields(procStatus(t, in.PID, "Uid"))
		gids := strings.Fields(procStatus(t, in.PID, "Gid"))
		if len(ids) != 4 || len(gids) != 4 || ids[0] != ids[1] || ids[0] != ids[2] || ids[0] != ids[3] || gids[0] != ids[0] || gids[3] != ids[0] {
			t.Fatalf("%s: Uid %v Gid %v, want one uid for real, effective, saved and fs ids, and a gid of the same number", in.ID, ids, gids)
		}
		if g := procStatus(t, in.PID, "Groups"); g != "" {
			t.Errorf("%s keeps supplementary groups %q, want none", in.ID, g)
		}
		n, _ := strconv.ParseUint(ids[0], 10, 32)
		if n < appUIDBase || n >= appUIDBase+appUIDSpan {
			t.Errorf("%s runs as uid %d, want one from %d up", in.ID, n, appUIDBase)
		}
		wd := s.workDir(in.ID)
		fi, err := os.Stat(wd)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uint32(n) || fi.Mode().Perm() != 0o700 {
			t.Errorf("working dir %s: owner %d, mode %04o; want %d and 0700", wd, st.Uid, fi.Mode().Perm(), n)
		}
		env, err := os.ReadFile("/proc/" + strconv.Itoa(in.PID) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		home := false
		for _, kv := range bytes.Split(env, []byte{0}) {
			switch {
			case string(kv) == "HOME="+wd:
				home = true
			case bytes.Contains(kv, []byte(e.dir)), bytes.HasPrefix(kv, []byte(oldMarkerVar+"=")):
				t.Errorf("%s's environment names the data dir: %s", in.ID, kv)
			}
		}
		if !home {
			t.Errorf("%s's HOME is not its working dir %s", in.ID, wd)
		}
		return uint32(n)
	}
	a, b, c := uidOf(hellos[0]), uidOf(hellos[1]), uidOf(others[0])
	if a != b || a == c {
		t.Errorf("hello's instances run as %d and %d, other's as %d: want one uid per app", a, b, c)
	}
	if fi, err := os.Stat(e.dir); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("data dir mode %v (%v), want 0711: enter, not list", fi.Mode().Perm(), err)
	}
	if err := s.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}

	// the allocation is kept: a new supervisor gives the app the same uid
	s2 := e.supervisor(Options{User: User{Mode: PerApp, Name: "app"}})
	defer s2.Close(context.Background(), true)
	if err := s2.Apply(context.Background(), runtime.Set{Template: template(2, nil), Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if got := uidOf(e.readyCount(s2, 1)[0]); got != a {
		t.Errorf("after a restart hello runs as %d, before as %d", got, a)
	}
}

func TestADataDirInstancesCannotReachIsRefusedWithTheWayOut(t *testing.T) {
	closed := filepath.Join(t.TempDir(), "closed")
	data := filepath.Join(closed, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := openDataDir(data, User{Mode: PerApp, Name: "app"}, slog.Default())
	if err == nil {
		t.Fatal("a data dir under a 0700 dir was accepted for instances of other users")
	}
	for _, want := range []string{closed + " is mode 0700", "--data /var/lib/tend", "chmod o+x " + closed, "--instance-user root"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := openDataDir(data, User{}, slog.Default()); err != nil {
		t.Errorf("as tend's user the data dir needs nothing: %v", err)
	}
	// chosen by default (auto), an unreachable data dir runs instances as tend, untouched
	if u, err := openDataDir(data, User{Mode: PerApp, Name: "auto", Auto: true}, slog.Default()); err != nil || u.separate() {
		t.Errorf("auto on a data dir instances cannot reach: %+v, %v; want instances as tend", u, err)
	}
	if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o700 {
		t.Errorf("the refused data dir's mode was changed to %04o", fi.Mode().Perm())
	}
	// the test's own temp dirs are 0700 too
	for _, d := range []string{closed, filepath.Dir(closed), filepath.Dir(filepath.Dir(closed))} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	for d := filepath.Dir(closed); d != filepath.Dir(d); d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&1 == 0 {
			t.Skipf("%s above the test's temp dir is closed to others", d)
		}
	}
	if _, err := openDataDir(data, User{Mode: PerApp, Name: "app"}, slog.Default()); err != nil {
		t.Fatalf("an enterable path was refused: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(data, "instances")); fi == nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("DATA/instances: %v, want 0711", fi)
	}
}

func TestInstanceUserFlag(t *testing.T) {
	root := os.Geteuid() == 0
	u, err := ParseUser("auto")
	if err != nil || (u.Mode == PerApp) != root {
		t.Errorf("auto as uid %d: %+v, %v", os.Geteuid(), u, err)
	}
	if u, err := ParseUser(strconv.Itoa(os.Geteuid())); err != nil || u.Mode != AsTend {
		t.Errorf("tend's own uid: %+v, %v; want instances as tend", u, err)
	}
	for _, bad := range []string{"no-such-user-here", "12x", "nobody:5", "99999999999", ":5"} {
		if _, err := ParseUser(bad); err == nil || !strings.Contains(err.Error(), "--instance-user "+bad) {
			t.Errorf("%q: %v, want an error naming the flag", bad, err)
		}
	}
	if root {
		if u, err := ParseUser("4242:4343"); err != nil || u.Mode != Fixed || u.UID != 4242 || u.GID != 4343 {
			t.Errorf("4242:4343: %+v, %v", u, err)
		}
	} else if _, err := ParseUser("app"); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("app as uid %d: %v, want the need for root said", os.Geteuid(), err)
	}
}

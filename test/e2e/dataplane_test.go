package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tendhq/tend/internal/api/v1"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/test/harness"
)

// gatewayControl is an HTTP client of the gateway process's control socket
// (DATA/gateway/control.sock); every request opens a new connection, so it reaches the
// gateway that serves now.
func gatewayControl(dataDir string) *http.Client {
	sock := filepath.Join(dataDir, "gateway", "control.sock")
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// gatewayGet fetches path from the gateway's control socket.
func gatewayGet(dataDir, path string) ([]byte, error) {
	resp, err := gatewayControl(dataDir).Get("http://gateway" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s on the control socket: %d %s", path, resp.StatusCode, b)
	}
	return b, nil
}

// ctlInfo is what GET /v1/info on the control socket says.
type ctlInfo struct {
	PID        int     `json:"pid"`
	Listen     string  `json:"listen"`
	Routing    int64   `json:"routing"`
	RoutingAge float64 `json:"routingAgeSeconds"`
}

func gatewayInfo(dataDir string) (ctlInfo, error) {
	var i ctlInfo
	b, err := gatewayGet(dataDir, "/v1/info")
	if err != nil {
		return i, err
	}
	if err := json.Unmarshal(b, &i); err != nil {
		return i, fmt.Errorf("decode /v1/info: %w: %s", err, b)
	}
	return i, nil
}

// gatewayMetric reads one unlabelled sample from the gateway's /metrics (on its control socket).
func gatewayMetric(dataDir, name string) (float64, error) {
	b, err := gatewayGet(dataDir, "/metrics")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in the gateway's metrics", name)
}

// logHas reports whether a line of log holds every one of parts.
func logHas(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func gatewayLog(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "gateway", "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dumpGatewayLog logs DATA/gateway/gateway.log when the test failed.
func dumpGatewayLog(t *testing.T, dataDir string) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dataDir, "gateway", "gateway.log"))
			t.Logf("gateway log:\n%s", b)
		}
	})
}

func TestGatewayServesTheCanaryWhileTheServerIsDown(t *testing.T) {
	data := t.TempDir()
	dumpGatewayLog(t, data)
	s := startServer(t, data)
	dir := t.TempDir()
	const steps = `    steps: [{weight: 25}, {pause: {}}]`
	s.mustTend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "1"`, steps)))
	out, err := s.tend("deploy", "-f", writeSpec(t, dir, canarySpec(`RELEASE: "2"`, steps)))
	if exitCode(err) != 3 {
		t.Fatalf("canary deploy: exit %d, want 3 (paused at weight 25):\n%s", exitCode(err), out)
	}
	instances := pids(s)
	gw := s.GatewayPID()
	if gw == 0 || !alive(gw) {
		t.Fatalf("no gateway runs (gateway.pid says %d)", gw)
	}

	whole := startLoad(s, 100, 2*time.Minute)
	time.Sleep(2 * time.Second)
	s.crash()
	crashed := time.Now()
	down := startLoad(s, 100, time.Minute)
	time.Sleep(time.Second)
	age1, err := gatewayMetric(data, "tend_gateway_config_age_seconds")
	if err != nil {
		t.Fatal(err)
	}
	read1 := time.Now()
	// the gateway says after 10 s that it serves on its own
	waitFor(t, 20*time.Second, "the gateway to log that the server is silent", func() error {
		if !logHas(gatewayLog(t, data), "no word from tend server") {
			return errorf("no such line in gateway.log yet")
		}
		return nil
	})
	age2, err := gatewayMetric(data, "tend_gateway_config_age_seconds")
	if err != nil {
		t.Fatal(err)
	}
	read2 := time.Now()
	res := down.Finish()
	t.Logf("while the server was down (%s): %d ok, %d failed, by revision %v; config age %.1fs then %.1fs",
		time.Since(crashed).Round(time.Second), res.OK, res.Failed, res.ByRevision, age1, age2)
	if res.Failed > 0 {
		t.Errorf("%d of %d requests failed while the server was down; first:\n%s", res.Failed, res.OK+res.Failed, strings.Join(res.Failures, "\n"))
	}
	if res.ByRevision["1"]+res.ByRevision["2"] != res.OK {
		t.Errorf("answers from unexpected revisions while the server was down: %v", res.ByRevision)
	}
	// 25% of ~1000 requests: a binomial standard deviation of 1.4 points
	if share := float64(res.ByRevision["2"]) / float64(res.OK); share < 0.15 || share > 0.35 {
		t.Errorf("revision 2 answered %.1f%% of requests while the server was down, want about the canary weight 25%%", 100*share)
	}
	if grew := age2 - age1; grew < read2.Sub(read1).Seconds()-1 || age2 < 10 {
		t.Errorf("tend_gateway_config_age_seconds went from %.1f to %.1f in %s while the server was down; want it to grow with the time",
			age1, age2, read2.Sub(read1).Round(time.Millisecond))
	}
	if now := s.GatewayPID(); now != gw || !alive(gw) {
		t.Fatalf("gateway %d no longer serves while the server is down (gateway.pid says %d)", gw, now)
	}

	s2 := startServerWith(t, harness.Config{DataDir: data, API: s.API, Gateway: s.Gateway})
	waitFor(t, 30*time.Second, "the new server to confirm the gateway's routing", func() error {
		age, err := gatewayMetric(data, "tend_gateway_config_age_seconds")
		if err != nil || age > 3 {
			return errorf("config age %.1fs (%v)", age, err)
		}
		return nil
	})
	if now := s2.GatewayPID(); now != gw {
		t.Errorf("the new server replaced the gateway: pid %d, was %d", now, gw)
	}
	if info, err := gatewayInfo(data); err != nil || info.PID != gw {
		t.Errorf("the control socket is served by %+v (%v), want the gateway %d", info, err, gw)
	}
	if after := pids(s2); !slices.Equal(after, instances) {
		t.Errorf("instances after the restart have PIDs %v, want the same as before %v", after, instances)
	}
	st := s2.status("hello")
	if st.Rollout.Phase != v1.Paused || st.Rollout.To != 2 || st.Rollout.Weight != 25 {
		t.Errorf("rollout after the restart: phase %s, to %d, weight %d; want Paused at weight 25 towards revision 2", st.Rollout.Phase, st.Rollout.To, st.Rollout.Weight)
	}
	time.Sleep(2 * time.Second) // traffic through the gateway with the new server behind it
	revs := whole.finish(t, "server killed mid-canary and restarted")
	if revs["2"] == 0 {
		t.Errorf("the canary got no traffic: %v", revs)
	}

	s2.mustTend("promote", "hello")
	waitFor(t, 60*time.Second, "the canary to complete", func() error { return phaseIs(s2, "Completed", 2) })
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 10*time.Second, "revision 2 to serve every request", func() error {
		for i := 0; i < 40; i++ {
			if code, rev, _, err := s2.get(client, "/"); err != nil || code != 200 || rev != "2" {
				return errorf("GET / %d: %d rev %q %v", i, code, rev, err)
			}
		}
		return nil
	})
}

func TestKilledGatewayIsReplacedOnTheSameSocket(t *testing.T) {
	s, _ := deployed(t)
	dumpGatewayLog(t, s.DataDir)
	old := s.GatewayPID()
	if old == 0 || !alive(old) {
		t.Fatalf("no gateway runs (gateway.pid says %d)", old)
	}
	instances := pids(s)
	start := time.Now()
	const rps = 200
	l := startLoad(s, rps, time.Minute)
	time.Sleep(2 * time.Second)
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	client := &http.Client{Timeout: time.Second}
	var now int
	var took time.Duration
	for now == 0 {
		if pid := s.GatewayPID(); pid != old && pid != 0 && alive(pid) {
			info, err := gatewayInfo(s.DataDir)
			if code, _, _, gerr := s.get(client, "/"); err == nil && info.PID == pid && gerr == nil && code == 200 {
				now, took = pid, time.Since(killed)
			}
		}
		if now == 0 && time.Since(killed) > 10*time.Second {
			l.Finish()
			t.Fatalf("no new gateway serves 10s after gateway %d was killed (gateway.pid says %d)", old, s.GatewayPID())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("gateway %d killed; gateway %d serves %s later", old, now, took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("a new gateway served %s after the old one was killed, want within 1s", took.Round(time.Millisecond))
	}
	if d := 10*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	res := l.Finish()
	t.Logf("gateway killed under load: %d ok, %d failed, by revision %v", res.OK, res.Failed, res.ByRevision)
	// the load has one request in flight per worker at most: only those can be cut by
	// the kill; later ones wait in the socket's backlog, which the server holds open
	if workers := max(16, rps/25); res.Failed > int64(workers) {
		t.Errorf("%d requests failed when the gateway was killed, want at most the %d in flight; first:\n%s", res.Failed, workers, strings.Join(res.Failures, "\n"))
	}
	log := s.Log()
	if !logHas(log, "the gateway process ended", strconv.Itoa(old)) {
		t.Errorf("the server log does not say gateway %d ended", old)
	}
	if !logHas(log, "gateway started", fmt.Sprintf(`"pid":%d`, now)) {
		t.Errorf("the server log does not say it started gateway %d", now)
	}
	if after := pids(s); !slices.Equal(after, instances) {
		t.Errorf("instances after the gateway's restart have PIDs %v, want the same as before %v", after, instances)
	}
}

func TestUpgradeHandOverReplacesTheGatewayWithoutFailedRequests(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tend")
	install := func(path string) {
		t.Helper()
		b, err := os.ReadFile(tendBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install(bin)
	data := t.TempDir()
	dumpGatewayLog(t, data)
	s := startServerWith(t, harness.Config{Bin: bin, DataDir: data})
	s.Bin = tendBin // the CLI: any tend will do, the server runs the copy
	s.mustTend("deploy", "-f", writeSpec(t, t.TempDir(), specWith("1", rolling)))
	old := s.GatewayPID()
	if old == 0 || !alive(old) {
		t.Fatalf("no gateway runs (gateway.pid says %d)", old)
	}
	instances := pids(s)
	// the upgrade: a new file renamed over the binary, as a package manager does
	install(bin + ".new")
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l := startLoad(s, 200, 2*time.Minute)
	time.Sleep(2 * time.Second)
	signalled := time.Now()
	if err := s.HandOver(time.Minute); err != nil {
		l.Finish()
		t.Fatal(err)
	}
	t.Logf("server %d handed over to %d in %s", s.PID(), s.CurrentPID(), time.Since(signalled).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "a gateway of the new executable to serve", func() error {
		now := s.GatewayPID()
		if now == old || now == 0 || !alive(now) {
			return errorf("gateway.pid says %d (was %d)", now, old)
		}
		if info, err := gatewayInfo(data); err != nil || info.PID != now {
			return errorf("the control socket answers %+v (%v), want gateway %d", info, err, now)
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", now))
		if err != nil || exe != bin {
			return errorf("gateway %d runs %q (%v), want %s", now, exe, err, bin)
		}
		return nil
	})
	replaced := time.Since(signalled)
	waitFor(t, 80*time.Second, "the old gateway to stop", func() error {
		if alive(old) {
			return errorf("gateway %d still runs", old)
		}
		return nil
	})
	gone := time.Since(signalled)
	t.Logf("gateway %d replaced by %d %s after the signal, and gone %s after it", old, s.GatewayPID(), replaced.Round(time.Millisecond), gone.Round(time.Millisecond))
	if gone > 5*time.Second { // it takes about a second: say what took so long
		t.Logf("slow replacement of the gateway; server log:\n%s\ngateway log:\n%s", s.Log(), gatewayLog(t, data))
	}
	holdLoad(t, l, start, 10*time.Second, "upgrade hand-over")
	if after := pids(s); !slices.Equal(after, instances) {
		t.Errorf("instances after the hand-over have PIDs %v, want the same as before %v", after, instances)
	}
	if !logHas(s.Log(), "runs another executable", strconv.Itoa(old)) {
		t.Errorf("the new server does not say it replaced gateway %d", old)
	}
}

func TestNextServerOnAnotherGatewayAddressReplacesTheGateway(t *testing.T) {
	s, _ := deployed(t)
	dumpGatewayLog(t, s.DataDir)
	old := s.GatewayPID()
	if old == 0 || !alive(old) {
		t.Fatalf("no gateway runs (gateway.pid says %d)", old)
	}
	s.crash()
	s2 := startServerWith(t, harness.Config{DataDir: s.DataDir, API: s.API}) // a new --gateway address
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, 30*time.Second, "hello to be served on the new gateway address", func() error {
		if code, rev, _, err := s2.get(client, "/"); err != nil || code != 200 || rev != "1" {
			return errorf("GET http://%s/: %d rev %q %v", s2.Gateway, code, rev, err)
		}
		return nil
	})
	now := s2.GatewayPID()
	if now == old || !alive(now) {
		t.Fatalf("gateway.pid says %d (was %d), want a new gateway", now, old)
	}
	if info, err := gatewayInfo(s2.DataDir); err != nil || info.PID != now || info.Listen != s2.Gateway {
		t.Errorf("the control socket answers %+v (%v), want gateway %d on %s", info, err, now, s2.Gateway)
	}
	waitFor(t, 80*time.Second, "the gateway on the old address to stop", func() error {
		if alive(old) {
			return errorf("gateway %d still runs", old)
		}
		return nil
	})
	if c, err := net.DialTimeout("tcp", s.Gateway, time.Second); err == nil {
		c.Close()
		t.Errorf("the old gateway address %s still accepts connections", s.Gateway)
	}
}

// TestStuckGatewayFiresGatewayDown: a gateway that stops answering (here stopped with
// SIGSTOP, as a process stuck on a full disk or in swap would be) fires the built-in
// GatewayDown alert; when it answers again, the alert resolves.
func TestStuckGatewayFiresGatewayDown(t *testing.T) {
	s, _ := deployed(t)
	pid := s.GatewayPID()
	if pid == 0 || !alive(pid) {
		t.Fatalf("no gateway runs (gateway.pid says %d)", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	firing := func() (bool, error) {
		var alerts []api.Alert
		if err := json.Unmarshal([]byte(s.mustTend("alerts", "-o", "json")), &alerts); err != nil {
			return false, err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "GatewayDown" && a.Status.State == "active" {
				return true, nil
			}
		}
		return false, nil
	}
	waitFor(t, time.Minute, "GatewayDown to fire for the stopped gateway", func() error {
		if ok, err := firing(); err != nil || !ok {
			return fmt.Errorf("not firing (%v)", err)
		}
		return nil
	})
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "GatewayDown to resolve once the gateway answers", func() error {
		if ok, err := firing(); err != nil || ok {
			return fmt.Errorf("still firing (%v)", err)
		}
		return nil
	})
}

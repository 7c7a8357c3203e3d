package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/internal/gateway"
	"github.com/tendhq/tend/test/harness"
)

// serverCrashes kills `tend server` with SIGKILL under load, trials times, and starts a
// new server on the same data dir and addresses 2 s later: the gateway process must
// serve every request meanwhile, and the new server must adopt that gateway and the
// instances (the same pids).
func (b *bench) serverCrashes(w io.Writer, trials, rps int) (int, error) {
	dir := filepath.Join(b.Dir, "server-crashes")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer harness.KillUnder(data) // whatever a failed scenario left running
	s, _, err := b.deployed(dir, data)
	if err != nil {
		return 0, err
	}
	defer func() { s.Stop() }()

	fmt.Fprintf(w, "### `tend server` killed with SIGKILL under load\n\n")
	fmt.Fprintf(w, "3 instances, %d req/s of `GET /` through the gateway. In each trial: 1 s of load, SIGKILL of `tend server`, 2 s without a server, a new `tend server` on the same data dir and API and gateway addresses, and 2 s more of load once it serves (its API answers and it reports the 3 instances ready). *Config age* is the gateway's `tend_gateway_config_age_seconds` just before the new server starts and once it serves. A trial is clean when no request failed and the gateway and instance pids are the ones from before the kill.\n\n", rps)
	fmt.Fprintln(w, "| trial | requests | failed | p99 | max | gateway pid before → after | instance pids before → after | config age at restart → serving | new server serving after | clean |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---|---|---:|---:|---|")
	unclean := 0
	var restarts []time.Duration
	for i := 0; i < trials; i++ {
		var t crash
		t, s, err = b.crashUnderLoad(s, rps)
		if err != nil {
			return unclean + 1, fmt.Errorf("trial %d: %w", i+1, err)
		}
		restarts = append(restarts, t.restart)
		if !t.clean() {
			unclean++
			b.log.Warn("unclean trial", "scenario", "server crashes", "trial", i+1, "problems", t.problems, "failures", t.failures,
				"server log tail", tail(s.Log(), 4000), "gateway log tail", tail(gatewayLog(data), 4000))
		}
		pids := "same"
		if !slices.Equal(t.pidsBefore, t.pidsAfter) {
			pids = ints(t.pidsAfter)
		}
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %d → %d | %s → %s | %.1f s → %.1f s | %s | %s |\n", i+1, t.requests, t.failed,
			ms(t.p99), ms(t.max), t.gwBefore, t.gwAfter, ints(t.pidsBefore), pids, t.ageAway, t.ageBack,
			sec(t.restart), verdict(t.problems))
	}
	fmt.Fprintf(w, "\n%d of %d trials clean. New server serving after its start: %s.\n", trials-unclean, trials, spread(restarts, sec))
	return unclean, nil
}

// crash is what one kill of the server under load showed.
type crash struct {
	requests, failed  int64
	p99, max          time.Duration
	gwBefore, gwAfter int
	pidsBefore        []int
	pidsAfter         []int
	ageAway, ageBack  float64
	restart           time.Duration
	failures          []string
	problems          []string
}

func (t *crash) fail(format string, a ...any) {
	t.problems = append(t.problems, fmt.Sprintf(format, a...))
}
func (t *crash) clean() bool { return len(t.problems) == 0 }

// crashUnderLoad is one trial of serverCrashes; it returns the new server.
func (b *bench) crashUnderLoad(s *harness.Server, rps int) (crash, *harness.Server, error) {
	var t crash
	var err error
	if t.pidsBefore, err = readyPIDs(s, 3, 30*time.Second); err != nil {
		return t, s, fmt.Errorf("before the kill: %w", err)
	}
	t.gwBefore = s.GatewayPID()
	under := harness.ProcessesUnder(s.DataDir)
	slices.Sort(under)
	l := harness.StartLoad(s, rps, time.Minute+30*time.Second)
	time.Sleep(time.Second)
	s.Crash()
	time.Sleep(2 * time.Second)
	t.ageAway, _ = configAge(s.DataDir)
	began := time.Now()
	s2, err := harness.Start(harness.Config{Bin: b.Bin, DataDir: s.DataDir, API: s.API, Gateway: s.Gateway})
	if err != nil {
		r := l.Finish()
		return t, s, fmt.Errorf("restart after the kill (load: %d ok, %d failed): %w; gateway log: %s", r.OK, r.Failed, err, tail(gatewayLog(s.DataDir), 2000))
	}
	t.pidsAfter, err = readyPIDs(s2, 3, time.Minute)
	t.restart = time.Since(began)
	if err != nil {
		t.fail("after the restart: %v", err)
	}
	t.ageBack, _ = configAge(s.DataDir)
	t.gwAfter = s2.GatewayPID()
	time.Sleep(2 * time.Second)
	r := l.Finish()
	t.requests, t.failed, t.p99, t.max, t.failures = r.OK+r.Failed, r.Failed, r.Percentile(0.99), r.Percentile(1), r.Failures
	if r.Failed > 0 {
		t.fail("%d requests failed", r.Failed)
	}
	if t.gwAfter != t.gwBefore || !harness.Alive(t.gwAfter) {
		t.fail("gateway pid %d before, %d after (alive: %v)", t.gwBefore, t.gwAfter, harness.Alive(t.gwAfter))
	}
	if !slices.Equal(t.pidsBefore, t.pidsAfter) {
		t.fail("instance pids %v before, %v after", t.pidsBefore, t.pidsAfter)
	}
	if now := harness.ProcessesUnder(s.DataDir); !slices.Equal(under, sorted(now)) {
		t.fail("processes under the data dir %v before, %v after", under, sorted(now))
	}
	return t, s2, nil
}

// gatewayKills kills the gateway process with SIGKILL under load, kills times, and
// measures how soon a new one serves and how many requests failed.
func (b *bench) gatewayKills(w io.Writer, kills, rps int, gap time.Duration) (int, error) {
	dir := filepath.Join(b.Dir, "gateway-kills")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer harness.KillUnder(data) // whatever a failed scenario left running
	s, _, err := b.deployed(dir, data)
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	// the gateway started with the server; it too must live gap before its kill
	since := time.Now()

	fmt.Fprintf(w, "### The gateway process killed with SIGKILL under load\n\n")
	fmt.Fprintf(w, "3 instances, %d req/s of `GET /` through the gateway (Go's `net/http` client, kept connections). In each trial: 1 s of load, SIGKILL of the gateway (the pid in `DATA/gateway/gateway.pid`), 2 s more of load once a new one serves. *New pid* is when `gateway.pid` names another live process; *serves* is when a request on a new connection, sent right after the kill, is answered through the gateway address by that process (it waits in the listening socket's backlog meanwhile). *In flight* is the number of the load's requests sent and not yet answered the instant before the kill. %s A trial is clean when failed ≤ in flight and a new gateway serves within 1 s.\n\n", rps, spacing(gap))
	fmt.Fprintln(w, "| trial | gateway pid → new | new pid after | serves after | requests | in flight at kill | failed | p99 | max | clean |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
	unclean := 0
	var serves []time.Duration
	for i := 0; i < kills; i++ {
		time.Sleep(time.Until(since.Add(gap))) // since: when the gateway serving now started
		t, err := b.gatewayKill(s, rps)
		if err != nil {
			return unclean + 1, fmt.Errorf("trial %d: %w", i+1, err)
		}
		since = t.at.Add(t.serves)
		serves = append(serves, t.serves)
		if !t.clean() {
			unclean++
			b.log.Warn("unclean trial", "scenario", "gateway kills", "trial", i+1, "problems", t.problems, "failures", t.failures,
				"server log tail", tail(s.Log(), 4000), "gateway log tail", tail(gatewayLog(data), 4000))
		}
		fmt.Fprintf(w, "| %d | %d → %d | %s | %s | %d | %d | %d | %s | %s | %s |\n", i+1, t.old, t.new, ms(t.newPID), ms(t.serves),
			t.requests, t.inFlight, t.failed, ms(t.p99), ms(t.max), verdict(t.problems))
	}
	fmt.Fprintf(w, "\n%d of %d trials clean. A new gateway served after %s.\n", kills-unclean, kills, spread(serves, ms))
	return unclean, nil
}

// gwKill is what one kill of the gateway showed.
type gwKill struct {
	old, new         int
	at               time.Time
	newPID, serves   time.Duration
	requests, failed int64
	inFlight         int64
	p99, max         time.Duration
	failures         []string
	problems         []string
}

func (t *gwKill) fail(format string, a ...any) {
	t.problems = append(t.problems, fmt.Sprintf(format, a...))
}
func (t *gwKill) clean() bool { return len(t.problems) == 0 }

// gatewayKill is one trial of gatewayKills.
func (b *bench) gatewayKill(s *harness.Server, rps int) (gwKill, error) {
	var t gwKill
	if _, err := readyPIDs(s, 3, 30*time.Second); err != nil {
		return t, fmt.Errorf("before the kill: %w", err)
	}
	t.old = s.GatewayPID()
	if t.old == 0 || !harness.Alive(t.old) {
		return t, fmt.Errorf("no live gateway in %s (pid %d)", filepath.Join(s.DataDir, "gateway", "gateway.pid"), t.old)
	}
	l := harness.StartLoad(s, rps, time.Minute)
	time.Sleep(time.Second)
	// a new connection for every probe: it is accepted by whichever gateway serves
	probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	pidSeen := make(chan time.Duration, 1)
	t.inFlight = l.InFlight()
	t.at = time.Now()
	if err := syscall.Kill(t.old, syscall.SIGKILL); err != nil {
		l.Finish()
		return t, fmt.Errorf("kill the gateway %d: %w", t.old, err)
	}
	go func() {
		for time.Since(t.at) < 10*time.Second {
			if pid := s.GatewayPID(); pid != 0 && pid != t.old && harness.Alive(pid) {
				pidSeen <- time.Since(t.at)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		pidSeen <- -1
	}()
	for {
		code, _, _, err := s.Get(probe, "/")
		if err == nil && code == http.StatusOK && !harness.Alive(t.old) {
			t.serves = time.Since(t.at)
			break
		}
		if time.Since(t.at) > 10*time.Second {
			t.serves = time.Since(t.at)
			t.fail("no gateway served within 10 s (last probe: %d %v)", code, err)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.newPID = <-pidSeen
	t.new = s.GatewayPID()
	if t.newPID < 0 || t.new == t.old {
		t.fail("gateway.pid still names %d", t.old)
	}
	time.Sleep(2 * time.Second)
	r := l.Finish()
	t.requests, t.failed, t.p99, t.max, t.failures = r.OK+r.Failed, r.Failed, r.Percentile(0.99), r.Percentile(1), r.Failures
	if r.Failed > t.inFlight {
		t.fail("%d requests failed, %d were in flight at the kill", r.Failed, t.inFlight)
	}
	if t.serves > time.Second {
		t.fail("a new gateway served only after %s", t.serves.Round(time.Millisecond))
	}
	return t, nil
}

// spacing says how far apart the gateway kills are and why it matters.
func spacing(gap time.Duration) string {
	const why = "tend server restarts a gateway that dies within 5 s of its start only after a back-off (100 ms, doubling, up to 5 s) that breaks crash loops"
	if gap > 5*time.Second {
		return fmt.Sprintf("Every gateway killed had served for at least %s: %s.", gap, why)
	}
	return fmt.Sprintf("Kills are only %s apart, so the later ones wait for the back-off: %s.", gap, why)
}

// readyPIDs waits up to d until hello has n instances, all ready, and returns their pids, sorted.
func readyPIDs(s *harness.Server, n int, d time.Duration) ([]int, error) {
	var pids []int
	err := waitFor(d, func() error {
		st, err := s.Status("hello")
		if err != nil {
			return err
		}
		pids = pids[:0]
		for _, in := range st.Running {
			if in.State != "ready" {
				return fmt.Errorf("instance %s is %s", in.ID, in.State)
			}
			pids = append(pids, in.PID)
		}
		if len(pids) != n {
			return fmt.Errorf("%d instances, want %d", len(pids), n)
		}
		return nil
	})
	return sorted(pids), err
}

// configAge reads tend_gateway_config_age_seconds from the gateway's control socket.
func configAge(data string) (float64, error) {
	mfs, err := gateway.NewClient(filepath.Join(data, "gateway")).Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "tend_gateway_config_age_seconds" && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("no tend_gateway_config_age_seconds on the gateway's /metrics")
}

func gatewayLog(data string) string {
	b, _ := os.ReadFile(filepath.Join(data, "gateway", "gateway.log"))
	return string(b)
}

func verdict(problems []string) string {
	if len(problems) == 0 {
		return "yes"
	}
	return "**no**: " + strings.Join(problems, "; ")
}

func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func ints(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, " ")
}

// spread is "min A, p50 B, p90 C, max D" of durations.
func spread(d []time.Duration, unit func(time.Duration) string) string {
	if len(d) == 0 {
		return "–"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("min %s, p50 %s, p90 %s, max %s", unit(s[0]), unit(q(0.5)), unit(q(0.9)), unit(s[len(s)-1]))
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/test/harness"
)

// fullDisk runs tend with its data dir on a 256 MiB tmpfs, fills the filesystem under load
// and checks that every command either works or says the disk is full, that the server and
// its gateway keep serving, and that tend works again once space is freed.
func (b *bench) fullDisk(w io.Writer, rps int) (int, error) {
	fmt.Fprintf(w, "### Data dir on a small filesystem that fills up\n\n")
	if os.Geteuid() != 0 {
		fmt.Fprintln(w, "Not run: mounting a small tmpfs needs root.")
		return 0, nil
	}
	dir := filepath.Join(b.Dir, "full-disk")
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return 0, err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "tend-chaos", mnt).CombinedOutput(); err != nil {
		fmt.Fprintf(w, "Not run: this machine cannot mount a tmpfs (%v: %s).\n", err, strings.TrimSpace(string(out)))
		return 0, nil
	}
	defer func() { _ = exec.Command("umount", "-l", mnt).Run() }()

	defer harness.KillUnder(filepath.Join(mnt, "data")) // whatever a failed scenario left running
	s, spec, err := b.deployed(dir, filepath.Join(mnt, "data"))
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	// a binary that differs from the deployed one, so a deploy must store a new artifact
	binary := filepath.Join(dir, "hello-bin")
	if out, err := exec.Command("go", "build", "-o", binary, b.Hello).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build hello: %w: %s", err, out)
	}
	binSpec := func(release string) error {
		y := harness.HelloSpec(b.Hello, 3, release, harness.Rolling)
		y = strings.Replace(y, "build: {main: "+b.Hello+"}", "build: {binary: "+binary+"}", 1)
		return os.WriteFile(spec, []byte(y), 0o644)
	}

	l := harness.StartLoad(s, rps, 5*time.Minute)
	time.Sleep(2 * time.Second)
	filled, err := fill(filepath.Join(mnt, "filler"))
	if err != nil {
		l.Finish()
		return 1, err
	}

	fmt.Fprintf(w, "Data dir on a 256 MiB tmpfs; 3 instances serving %d req/s; then a file fills the filesystem (%d MiB written until ENOSPC). Each command must work or say that the disk is full, and change nothing when it fails.\n\n", rps, filled>>20)
	fmt.Fprintln(w, "| step | exit | what the user saw | as expected |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	unclean := 0
	step := func(what string, mustWork bool, args ...string) {
		out, err := s.Tend(args...)
		code := harness.ExitCode(err)
		full := strings.Contains(out, "filesystem is full") || strings.Contains(out, "no space left on device")
		ok := code == 0 || (!mustWork && full)
		verdict := "yes"
		if !ok {
			verdict = "**no**"
			unclean++
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", what, code, cell(out), verdict)
	}
	before, err := revisions(s)
	if err != nil {
		return unclean, err
	}
	if err := binSpec("2"); err != nil {
		return unclean, err
	}
	step("deploy a new binary (disk full)", false, "deploy", "-f", spec)
	if _, err := b.spec(dir, 3, "3", harness.Rolling); err != nil {
		return unclean, err
	}
	step("deploy a config change (disk full)", false, "deploy", "-f", spec)
	step("status (disk full)", true, "status", "hello")
	step("history (disk full)", true, "history", "hello")
	step("logs --tail 1 (disk full)", true, "logs", "hello", "--tail", "1")
	after, err := revisions(s)
	if err != nil {
		return unclean, err
	}
	same := "yes"
	if !slices.Equal(before, after) {
		same = "**no**"
		unclean++
	}
	fmt.Fprintf(w, "| revisions after the refused deploys | | before %v, after %v | %s |\n", before, after, same)
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		return unclean, err
	}
	if err := binSpec("4"); err != nil {
		return unclean, err
	}
	step("deploy a new binary (space freed)", true, "deploy", "-f", spec)
	time.Sleep(2 * time.Second)
	r := l.Finish()
	gw := "yes"
	if r.Failed > 0 || s.Exited() {
		gw = "**no**"
		unclean++
		b.log.Warn("full disk: gateway", "failures", r.Failures, "server exited", s.Exited(), "log", tail(s.Log(), 4000))
	}
	fmt.Fprintf(w, "| gateway throughout | | %d requests, %d failed, p99 %s, by revision %v; server alive: %v | %s |\n",
		r.OK+r.Failed, r.Failed, ms(r.Percentile(0.99)), r.ByRevision, !s.Exited(), gw)
	return unclean, nil
}

// fill writes zeros to path until the filesystem is full and returns the bytes written.
func fill(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("fill %s: %w", path, err)
		}
	}
}

// cell is CLI output as one Markdown table cell: its last non-empty lines, escaped.
func cell(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	lines = lines[max(0, len(lines)-2):]
	s := strings.Join(lines, " ⏎ ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "`", "'") + "`"
}

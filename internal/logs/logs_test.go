package logs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func appendLines(t *testing.T, f *os.File, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func openLog(t *testing.T, dir, instance string) *os.File {
	t.Helper()
	p := Path(dir, "hello", instance)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRotateKeepsFilesAndTheWriterGoesOn(t *testing.T) {
	dir := t.TempDir()
	f := openLog(t, dir, "a")
	p := Path(dir, "hello", "a")
	for round := 0; round < 4; round++ {
		appendLines(t, f, strings.Repeat(fmt.Sprint(round), 100))
		rotated, err := Rotate(p, 50, 2)
		if err != nil || !rotated {
			t.Fatalf("round %d: rotated %v err %v", round, rotated, err)
		}
	}
	appendLines(t, f, "after")
	b, _ := os.ReadFile(p)
	if string(b) != "after\n" {
		t.Fatalf("current file %q: the appending writer should write at the start after truncation", b)
	}
	one, _ := os.ReadFile(p + ".1")
	two, _ := os.ReadFile(p + ".2")
	if !strings.HasPrefix(string(one), "3") || !strings.HasPrefix(string(two), "2") {
		t.Fatalf(".1 %q .2 %q, want rounds 3 and 2", one, two)
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Fatal("kept more than 2 rotated files")
	}
	if rotated, _ := Rotate(p, 50, 2); rotated {
		t.Fatal("rotated a file under the size limit")
	}
}

func TestTailMergesInstancesByTime(t *testing.T) {
	dir := t.TempDir()
	a, b := openLog(t, dir, "a"), openLog(t, dir, "b")
	appendLines(t, a, `{"time":"2026-01-01T00:00:01Z","msg":"a1"}`, `{"time":"2026-01-01T00:00:03Z","msg":"a2"}`)
	appendLines(t, b, `{"time":"2026-01-01T00:00:02Z","msg":"b1"}`)
	var got []string
	err := Read(context.Background(), dir, Query{App: "hello", Tail: 5}, func(l Line) error {
		got = append(got, l.Instance+":"+l.Text[len(l.Text)-4:len(l.Text)-2])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "a:a1 b:b1 a:a2" {
		t.Fatalf("got %v, want lines merged by time", got)
	}
	got = nil
	_ = Read(context.Background(), dir, Query{App: "hello", Instance: "a", Tail: 1}, func(l Line) error {
		got = append(got, l.Text)
		return nil
	})
	if len(got) != 1 || !strings.Contains(got[0], "a2") {
		t.Fatalf("tail 1 of instance a: %v", got)
	}
}

// collector gathers the lines a following Read emits.
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) emit(l Line) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, l.Instance+":"+l.Text)
	return nil
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// waitFor polls until every wanted line has been emitted.
func (c *collector) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.snapshot()
		missing := 0
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %v, want %v among them", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// follow starts a following Read and returns a stop function that cancels it and
// checks it returns promptly without error.
func follow(t *testing.T, dir string, q Query) (*collector, func()) {
	t.Helper()
	q.Follow = true
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{}
	done := make(chan error, 1)
	go func() { done <- Read(ctx, dir, q, c.emit) }()
	return c, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read did not return after its context was cancelled")
		}
	}
}

func TestFollowSeesNewLinesRotationAndNewInstances(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	appendLines(t, a, "old")
	c, stop := follow(t, dir, Query{App: "hello", Tail: 100})
	c.waitFor(t, "a:old")
	appendLines(t, a, "new1")
	c.waitFor(t, "a:new1")
	if _, err := Rotate(Path(dir, "hello", "a"), 1, 3); err != nil {
		t.Fatal(err)
	}
	appendLines(t, a, "x")
	c.waitFor(t, "a:x")
	b := openLog(t, dir, "b")
	appendLines(t, b, "hello from b")
	c.waitFor(t, "b:hello from b")
	stop()
}

func TestFollowLosesNothingAcrossRotationsAndRepeatsNothing(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	p := Path(dir, "hello", "a")
	c, stop := follow(t, dir, Query{App: "hello", Tail: 100})
	var want []string
	// lines written just before a rotation, whether or not a poll saw them first,
	// are emitted once: from the current file or from the rotated copies (all kept here)
	for round := 0; round < 20; round++ {
		line := fmt.Sprintf("line-%02d", round)
		appendLines(t, a, line)
		want = append(want, "a:"+line)
		if round%3 == 2 {
			if _, err := Rotate(p, 1, 10); err != nil {
				t.Fatal(err)
			}
		}
		if round%4 == 0 {
			time.Sleep(pollInterval / 2)
		}
	}
	c.waitFor(t, want...)
	stop()
	if got := c.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("followed %v\nwant     %v", got, want)
	}
}

func TestFollowJoinsALineWrittenInPieces(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	if _, err := a.WriteString("par"); err != nil {
		t.Fatal(err)
	}
	c, stop := follow(t, dir, Query{App: "hello", Instance: "a", Tail: 100})
	time.Sleep(2 * pollInterval)
	appendLines(t, a, "tial", "next")
	c.waitFor(t, "a:partial", "a:next")
	stop()
	if got := c.snapshot(); !slices.Equal(got, []string{"a:partial", "a:next"}) {
		t.Fatalf("got %v, want the pieces joined into one line", got)
	}
}

func TestFollowOneInstanceWaitsForItsFile(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, openLog(t, dir, "other"), "not me")
	c, stop := follow(t, dir, Query{App: "hello", Instance: "late", Tail: 100})
	appendLines(t, openLog(t, dir, "late"), "here now")
	c.waitFor(t, "late:here now")
	stop()
	if got := c.snapshot(); slices.Contains(got, "other:not me") {
		t.Fatalf("got %v, want only instance late", got)
	}
}

func TestFollowWithOneKeptCopyRepeatsNothing(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	p := Path(dir, "hello", "a")
	appendLines(t, a, "first")
	if _, err := Rotate(p, 1, 1); err != nil {
		t.Fatal(err)
	}
	c, stop := follow(t, dir, Query{App: "hello", Tail: 100})
	appendLines(t, a, "second")
	c.waitFor(t, "a:second")
	if _, err := Rotate(p, 1, 1); err != nil {
		t.Fatal(err)
	}
	appendLines(t, a, "third")
	c.waitFor(t, "a:third")
	stop()
	if got := c.snapshot(); !slices.Equal(got, []string{"a:first", "a:second", "a:third"}) {
		t.Fatalf("got %v, want each line once", got)
	}
}

func TestTailReachesIntoRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	p := Path(dir, "hello", "a")
	appendLines(t, a, "1", "2", "3")
	if _, err := Rotate(p, 1, 3); err != nil {
		t.Fatal(err)
	}
	appendLines(t, a, "4", "5")
	if _, err := Rotate(p, 1, 3); err != nil {
		t.Fatal(err)
	}
	appendLines(t, a, "6")
	for tail, want := range map[int]string{1: "6", 3: "4 5 6", 5: "2 3 4 5 6", 50: "1 2 3 4 5 6"} {
		var got []string
		err := Read(context.Background(), dir, Query{App: "hello", Tail: tail}, func(l Line) error {
			got = append(got, l.Text)
			return nil
		})
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("tail %d: %v %v, want %s", tail, got, err, want)
		}
	}
}

func TestSinceDropsOlderLines(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, openLog(t, dir, "a"), `{"time":"2026-01-01T00:00:01Z","msg":"early"}`, `{"time":"2026-01-01T00:00:05Z","msg":"late"}`)
	var got []string
	since := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	if err := Read(context.Background(), dir, Query{App: "hello", Tail: -1, Since: since}, func(l Line) error {
		got = append(got, l.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(got[0], "late") {
		t.Fatalf("got %v, want only the line after %s", got, since)
	}
}

func TestNamesThatLeaveTheLogDirAreRejected(t *testing.T) {
	for _, q := range []Query{{App: ".."}, {App: "a/b"}, {App: ""}, {App: "hello", Instance: "../x"}} {
		if err := Read(context.Background(), t.TempDir(), q, func(Line) error { return nil }); err == nil {
			t.Errorf("query %+v: no error", q)
		}
	}
}

func TestRotateWhileAChildProcessWrites(t *testing.T) {
	dir := t.TempDir()
	out := openLog(t, dir, "child")
	p := Path(dir, "hello", "child")
	// cat copies its stdin to the log file through its own O_APPEND descriptor, as an instance does
	cmd := exec.Command("cat")
	cmd.Stdout = out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	waitContent := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ := os.ReadFile(path)
			if string(got) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %q, want %q", path, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fmt.Fprintln(in, "before rotation")
	waitContent(p, "before rotation\n")
	if rotated, err := Rotate(p, 1, 3); err != nil || !rotated {
		t.Fatalf("rotate: %v %v", rotated, err)
	}
	fmt.Fprintln(in, "after rotation")
	waitContent(p, "after rotation\n")
	waitContent(p+".1", "before rotation\n")
}

package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

func TestFollowSeesNewLinesRotationAndNewInstances(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	appendLines(t, a, "old")
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, dir, Query{App: "hello", Follow: true}, func(l Line) error {
			mu.Lock()
			got = append(got, l.Instance+":"+l.Text)
			mu.Unlock()
			return nil
		})
	}()
	waitLines := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			s := strings.Join(got, " ")
			mu.Unlock()
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(s, w)
			}
			if ok {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("got %v, want %v", got, want)
	}
	waitLines("a:old")
	appendLines(t, a, "new1")
	waitLines("a:new1")
	if _, err := Rotate(Path(dir, "hello", "a"), 1, 3); err != nil {
		t.Fatal(err)
	}
	appendLines(t, a, "x")
	waitLines("a:x")
	b := openLog(t, dir, "b")
	appendLines(t, b, "hello from b")
	waitLines("b:hello from b")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

package logs

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// jl is a slog JSON line at second s of 2026-01-01 UTC.
func jl(s int, level, msg string) string {
	return fmt.Sprintf(`{"time":"2026-01-01T00:00:%02dZ","level":%q,"msg":%q}`, s, level, msg)
}

// read runs a Read that does not follow and returns instance:msg (or the raw text) of each line.
func read(t *testing.T, dir string, q Query) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), dir, q, func(l Line) error {
		text := l.Text
		if i := strings.Index(text, `"msg":"`); i >= 0 {
			text = strings.TrimSuffix(text[i+7:], `"}`)
		}
		got = append(got, l.Instance+":"+text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func want(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v\nwant %v", what, got, want)
	}
}

func TestTailCountsLinesInTotalAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	a, b := openLog(t, dir, "hello-1-aaaa"), openLog(t, dir, "hello-1-bbbb")
	appendLines(t, a, jl(1, "INFO", "a1"), jl(3, "INFO", "a3"), jl(5, "INFO", "a5"))
	appendLines(t, b, jl(2, "INFO", "b2"), jl(4, "INFO", "b4"), jl(6, "INFO", "b6"))
	want(t, "tail 3", read(t, dir, Query{App: "hello", Tail: 3}), "hello-1-bbbb:b4", "hello-1-aaaa:a5", "hello-1-bbbb:b6")
	want(t, "tail 1", read(t, dir, Query{App: "hello", Tail: 1}), "hello-1-bbbb:b6")
	want(t, "tail 0", read(t, dir, Query{App: "hello", Tail: 0}))
	if got := read(t, dir, Query{App: "hello", Tail: -1}); len(got) != 6 || got[0] != "hello-1-aaaa:a1" {
		t.Errorf("tail -1: %v, want all 6 lines", got)
	}
	// the last lines of one instance can be all of them
	appendLines(t, a, jl(7, "INFO", "a7"), jl(8, "INFO", "a8"))
	want(t, "tail 3 after a wrote more", read(t, dir, Query{App: "hello", Tail: 3}), "hello-1-bbbb:b6", "hello-1-aaaa:a7", "hello-1-aaaa:a8")
}

func TestTailCountsAfterFilteringAndReachesRotatedCopies(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	p := Path(dir, "hello", "a")
	appendLines(t, a, "match 1", "other", "match 2")
	if _, err := Rotate(p, 1, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		appendLines(t, a, fmt.Sprintf("noise %d", i))
	}
	appendLines(t, a, "match 3")
	want(t, "grep, tail 2", read(t, dir, Query{App: "hello", Tail: 2, Grep: regexp.MustCompile(`^match`)}), "a:match 2", "a:match 3")
	want(t, "grep, tail all", read(t, dir, Query{App: "hello", Tail: -1, Grep: regexp.MustCompile(`match [13]`)}), "a:match 1", "a:match 3")
	want(t, "grep, tail 0", read(t, dir, Query{App: "hello", Tail: 0, Grep: regexp.MustCompile(`match`)}))
}

func TestLevelKeepsJSONLinesOfThatLevelOrAbove(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, openLog(t, dir, "a"), jl(1, "DEBUG", "d"), jl(2, "INFO", "i"), jl(3, "WARN", "w"), "plain text",
		jl(4, "ERROR", "e"), jl(5, "ERROR+2", "e2"), `{"time":"2026-01-01T00:00:06Z","msg":"no level"}`, `{"broken`)
	warn, debug := slog.LevelWarn, slog.LevelDebug
	want(t, "warn", read(t, dir, Query{App: "hello", Tail: -1, Level: &warn}), "a:w", "a:e", "a:e2")
	want(t, "debug", read(t, dir, Query{App: "hello", Tail: -1, Level: &debug}), "a:d", "a:i", "a:w", "a:e", "a:e2")
	if got := read(t, dir, Query{App: "hello", Tail: -1}); len(got) != 8 {
		t.Errorf("no level: %v, want every line, JSON or not", got)
	}
	want(t, "warn, tail 1", read(t, dir, Query{App: "hello", Tail: 1, Level: &warn}), "a:e2")
}

func TestSinceAndUntil(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, openLog(t, dir, "a"), jl(1, "INFO", "a1"), jl(3, "INFO", "a3"), jl(5, "INFO", "a5"))
	appendLines(t, openLog(t, dir, "b"), jl(2, "INFO", "b2"), jl(4, "INFO", "b4"))
	at := func(s int) time.Time { return time.Date(2026, 1, 1, 0, 0, s, 0, time.UTC) }
	want(t, "since 3", read(t, dir, Query{App: "hello", Tail: -1, Since: at(3)}), "a:a3", "b:b4", "a:a5")
	want(t, "until 3", read(t, dir, Query{App: "hello", Tail: -1, Until: at(3)}), "a:a1", "b:b2", "a:a3")
	want(t, "since 2 until 4, tail 2", read(t, dir, Query{App: "hello", Tail: 2, Since: at(2), Until: at(4)}), "a:a3", "b:b4")
	want(t, "until before everything", read(t, dir, Query{App: "hello", Tail: 5, Until: at(0)}))
}

func TestRevisionAndDeadInstances(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, openLog(t, dir, "hello-1-old1"), jl(1, "INFO", "dead of 1"))
	appendLines(t, openLog(t, dir, "hello-1-live"), jl(2, "INFO", "live of 1"))
	appendLines(t, openLog(t, dir, "hello-2-live"), jl(3, "INFO", "live of 2"))
	live := func(id string) bool { return strings.HasSuffix(id, "-live") }
	want(t, "revision 1, all", read(t, dir, Query{App: "hello", Tail: 10, Revision: 1}), "hello-1-old1:dead of 1", "hello-1-live:live of 1")
	want(t, "live only", read(t, dir, Query{App: "hello", Tail: 10, Live: live}), "hello-1-live:live of 1", "hello-2-live:live of 2")
	want(t, "revision 2, live", read(t, dir, Query{App: "hello", Tail: 10, Revision: 2, Live: live}), "hello-2-live:live of 2")
	want(t, "a dead instance named", read(t, dir, Query{App: "hello", Tail: 10, Instance: "hello-1-old1", Live: live}), "hello-1-old1:dead of 1")
	var revs []int
	_ = Read(context.Background(), dir, Query{App: "hello", Tail: 10}, func(l Line) error { revs = append(revs, l.Revision); return nil })
	if !slices.Equal(revs, []int{1, 1, 2}) {
		t.Errorf("revisions %v, want 1 1 2 from the instance ids", revs)
	}
}

func TestRevisionOf(t *testing.T) {
	for id, rev := range map[string]int{"hello-3-ab12": 3, "my-app-12-x7k2": 12, "other-3-ab12": 0, "hello-x-ab12": 0, "a": 0, "hello-7": 7} {
		app := "hello"
		if strings.HasPrefix(id, "my-app") {
			app = "my-app"
		}
		if got := RevisionOf(app, id); got != rev {
			t.Errorf("RevisionOf(%s, %s) = %d, want %d", app, id, got, rev)
		}
	}
}

func TestFollowWithTailZeroOnlyNewLinesOfLiveInstancesThatPassTheFilters(t *testing.T) {
	dir := t.TempDir()
	a, dead := openLog(t, dir, "hello-1-aaaa"), openLog(t, dir, "hello-1-dead")
	appendLines(t, a, "old match")
	appendLines(t, dead, "dead match")
	c, stop := follow(t, dir, Query{App: "hello", Tail: 0, Grep: regexp.MustCompile("match"),
		Live: func(id string) bool { return id == "hello-1-aaaa" }})
	time.Sleep(2 * pollInterval)
	appendLines(t, a, "new nope", "new match")
	appendLines(t, dead, "dead again match")
	appendLines(t, openLog(t, dir, "hello-2-newb"), "newb match")
	c.waitFor(t, "hello-1-aaaa:new match", "hello-2-newb:newb match")
	time.Sleep(2 * pollInterval)
	stop()
	want(t, "followed", c.snapshot(), "hello-1-aaaa:new match", "hello-2-newb:newb match")
}

func TestFollowEndsAfterUntil(t *testing.T) {
	dir := t.TempDir()
	appendLines(t, openLog(t, dir, "a"), "x")
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), dir, Query{App: "hello", Tail: 1, Follow: true, Until: time.Now().Add(300 * time.Millisecond)}, func(Line) error { return nil })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a following Read went on after --until")
	}
}

func TestReadingBackwardsKeepsLongLinesAndAnUnfinishedLastOne(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, dir, "a")
	long := strings.Repeat("x", 3*chunkSize+17)
	appendLines(t, a, "first", long, "", "after")
	if _, err := a.WriteString("unfinished"); err != nil {
		t.Fatal(err)
	}
	got := read(t, dir, Query{App: "hello", Tail: -1})
	want(t, "all", got, "a:first", "a:"+long, "a:", "a:after", "a:unfinished")
	want(t, "tail 2", read(t, dir, Query{App: "hello", Tail: 2}), "a:after", "a:unfinished")
	huge := strings.Repeat("y", maxLineBytes+chunkSize*2)
	appendLines(t, a, "", huge)
	got = read(t, dir, Query{App: "hello", Tail: 1})
	if len(got) != 1 || len(got[0]) != len("a:")+maxLineBytes || !strings.HasSuffix(got[0], "yyy") {
		t.Errorf("a line longer than %d bytes: got %d bytes, want its end", maxLineBytes, len(got[0]))
	}
}

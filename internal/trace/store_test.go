package trace

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func span(trace, id, parent byte, service string, start time.Time, d time.Duration) Span {
	s := Span{Service: service, Name: service + " op", Kind: KindServer, Start: start, End: start.Add(d),
		Attributes: map[string]any{"http.response.status_code": int64(200), "tend.revision": int64(2)}}
	s.Trace[0], s.ID[0] = trace, id
	if parent != 0 {
		s.Parent[0] = parent
	}
	return s
}

func TestAStoredTraceIsFoundAgainAfterARestart(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	root := span(1, 1, 0, "tend-gateway", t0, 300*time.Millisecond)
	root.Attributes["tend.app"] = "front"
	child := span(1, 2, 1, "front", t0.Add(time.Millisecond), 250*time.Millisecond)
	grandchild := span(1, 3, 2, "back", t0.Add(2*time.Millisecond), 200*time.Millisecond)
	grandchild.Error, grandchild.Message = true, "database down"
	other := span(2, 1, 0, "back", t0.Add(time.Second), 10*time.Millisecond)
	if err := st.Add([]Span{grandchild, root}); err != nil {
		t.Fatal(err)
	}
	if err := st.Add([]Span{child, other}); err != nil {
		t.Fatal(err)
	}
	check := func(st *Store, when string) {
		t.Helper()
		spans, err := st.Trace(root.Trace)
		if err != nil || len(spans) != 3 {
			t.Fatalf("%s: trace has %d spans (%v), want 3", when, len(spans), err)
		}
		if spans[0].ID != root.ID || spans[1].ID != child.ID || spans[2].ID != grandchild.ID {
			t.Errorf("%s: spans not by start: %v", when, spans)
		}
		if got := spans[2]; !got.Error || got.Message != "database down" || got.Attributes["tend.revision"] != int64(2) || !got.Start.Equal(grandchild.Start) {
			t.Errorf("%s: the failed span came back as %+v", when, got)
		}
		all := st.Find(Query{})
		if len(all) != 2 || all[0].Trace != other.Trace {
			t.Fatalf("%s: find all: %+v, want 2 traces newest first", when, all)
		}
		if slowest := st.Find(Query{Slowest: true}); len(slowest) != 2 || slowest[0].Trace != root.Trace {
			t.Errorf("%s: find the slowest first: %+v, want the 300ms trace first", when, slowest)
		}
		errs := st.Find(Query{Errors: true})
		if len(errs) != 1 || errs[0].Trace != root.Trace || errs[0].Root.ID != root.ID || errs[0].Duration != 300*time.Millisecond || errs[0].Spans != 3 {
			t.Errorf("%s: find errors: %+v", when, errs)
		}
		if slow := st.Find(Query{MinDuration: 100 * time.Millisecond, App: "front"}); len(slow) != 1 || slow[0].Trace != root.Trace {
			t.Errorf("%s: find slow traces of front: %+v", when, slow)
		}
		if hidden := st.Find(Query{Visible: func(app string) bool { return app == "nobody" }}); len(hidden) != 0 {
			t.Errorf("%s: a caller who may see no app found %+v", when, hidden)
		}
	}
	check(st, "before the restart")
	st.Close()
	// a crash in the middle of a line: the damaged line is skipped, the rest found
	segs, _ := filepath.Glob(filepath.Join(dir, "spans-*.jsonl"))
	f, _ := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"v":1,"trace":"01`)
	f.Close()
	st, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check(st, "after the restart")
	if err := st.Add([]Span{span(3, 1, 0, "back", t0, time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if segs2, _ := filepath.Glob(filepath.Join(dir, "spans-*.jsonl")); len(segs2) != 2 {
		t.Errorf("%d segments: a restarted store must write a segment of its own, not append after a damaged line", len(segs2))
	}
}

func TestOldSpansAndSpansBeyondTheSizeBoundAreDropped(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	st, err := Open(Options{Dir: t.TempDir(), Retention: time.Hour, MaxBytes: 1 << 20, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old := span(1, 1, 0, "a", now.Add(-3*time.Hour), time.Millisecond)
	if err := st.Add([]Span{old}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // a new segment, and the first one past the retention
	if err := st.Add([]Span{span(2, 1, 0, "a", now, time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if spans, _ := st.Trace(old.Trace); len(spans) != 0 {
		t.Errorf("a span older than the retention is still there")
	}
	// beyond the size bound the oldest segments go: 1 MiB of spans in hour-long segments
	big := span(9, 1, 0, "a", now, time.Millisecond)
	big.Attributes["payload"] = string(make([]byte, 100<<10))
	for i := 0; i < 30; i++ {
		now = now.Add(61 * time.Minute)
		big.Trace[1], big.Start, big.End = byte(i), now, now.Add(time.Millisecond)
		if err := st.Add([]Span{big}); err != nil {
			t.Fatal(err)
		}
	}
	st.mu.Lock()
	size := st.sizeLocked()
	st.mu.Unlock()
	if size > 1<<20+200<<10 {
		t.Errorf("the store holds %d bytes, bound 1 MiB", size)
	}
	if n := len(st.Find(Query{Limit: 100})); n == 0 || n >= 30 {
		t.Errorf("%d traces after 30 of 100 KiB under a 1 MiB bound: want the newest few", n)
	}
}

var testTime = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

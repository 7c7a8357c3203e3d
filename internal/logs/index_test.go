package logs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/trace"
)

// kitLine is a log line as kit's slog JSON handler writes it inside a traced request.
func kitLine(i int, trace trace.TraceID) string {
	return fmt.Sprintf(`{"time":"2026-01-01T00:%02d:%02d.%06dZ","level":"INFO","msg":"request served","service":"hello","method":"GET","path":"/orders/%d","status":200,"duration_ms":3.2,"trace_id":"%s","span_id":"%016x"}`,
		i/60%60, i%60, i%1e6, i, trace, i)
}

func randomTrace(r *rand.Rand) trace.TraceID {
	var id trace.TraceID
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

// lines of text by their trace, for comparing FindTrace with a plain grep.
func msgs(lines []AppLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.App+" "+l.Instance+" "+l.Text)
	}
	return out
}

func TestFindTraceReadsTheIndexedChunksAndTheTailAndFollowsRotations(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	traces := make([]trace.TraceID, 500)
	for i := range traces {
		traces[i] = randomTrace(r)
	}
	a, b := openLog(t, dir, "hello-1-aaaa"), openLog(t, dir, "hello-1-bbbb")
	want := map[trace.TraceID][]string{}
	write := func(f *os.File, inst string, from, to int) {
		for i := from; i < to; i++ {
			tr := traces[r.IntN(len(traces))]
			l := kitLine(i, tr)
			appendLines(t, f, l)
			want[tr] = append(want[tr], "hello "+inst+" "+l)
		}
	}
	write(a, "hello-1-aaaa", 0, 6000)
	write(b, "hello-1-bbbb", 6000, 9000)
	done, left, err := IndexAll(dir)
	if err != nil || done == 0 || left != 0 {
		t.Fatalf("IndexAll: %d indexed, %d left, %v; want everything indexed", done, left, err)
	}
	// lines written after the last indexing are found in the tail
	write(a, "hello-1-aaaa", 9000, 9100)
	// a rotation moves the index with the copy
	if ok, err := Rotate(Path(dir, "hello", "hello-1-aaaa"), 1<<10, 3); !ok || err != nil {
		t.Fatalf("rotate: %v %v", ok, err)
	}
	if _, err := os.Stat(indexPath(Path(dir, "hello", "hello-1-aaaa") + ".1")); err != nil {
		t.Fatalf("the rotated copy has no index: %v", err)
	}
	write(a, "hello-1-aaaa", 9100, 9200)
	// and the logs of another app, and a line with the digits outside trace_id
	other := filepath.Join(dir, "logs", "shop", "shop-3-cccc.log")
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	probe := traces[7]
	line := kitLine(9300, probe)
	if err := os.WriteFile(other, []byte(line+"\n"+`{"msg":"order `+probe.String()+` is not a trace id here"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want[probe] = append(want[probe], "shop shop-3-cccc "+line)
	for _, tr := range traces[:50] {
		got, err := FindTrace(context.Background(), dir, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := slices.Clone(want[tr])
		g := msgs(got)
		slices.Sort(w)
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Fatalf("trace %s: found %d lines, want the %d that carry it:\ngot  %q\nwant %q", tr, len(g), len(w), g, w)
		}
		for i := 1; i < len(got); i++ {
			if got[i].At.Before(got[i-1].At) {
				t.Fatalf("trace %s: lines out of time order: %v after %v", tr, got[i].At, got[i-1].At)
			}
		}
	}
	got, _ := FindTrace(context.Background(), dir, probe, func(app string) bool { return app == "shop" })
	if len(got) != 1 || got[0].App != "shop" || got[0].Revision != 3 {
		t.Fatalf("trace in app shop only: %+v, want its one line, of revision 3", got)
	}
	// the index costs well under a tenth of the logs
	if _, _, err := IndexAll(dir); err != nil {
		t.Fatal(err)
	}
	var logBytes, idxBytes int64
	_ = filepath.Walk(filepath.Join(dir, "logs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if strings.HasSuffix(p, ".idx") {
				idxBytes += info.Size()
			} else {
				logBytes += info.Size()
			}
		}
		return nil
	})
	if idxBytes*10 >= logBytes {
		t.Fatalf("index %d bytes for %d of logs: want < 10%%", idxBytes, logBytes)
	}
}

func TestATornIndexIsRebuiltFromWhereItIsGood(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	f := openLog(t, dir, "hello-1-aaaa")
	tr := randomTrace(r)
	var want int
	for i := range 3000 {
		id := randomTrace(r)
		if i%100 == 0 {
			id, want = tr, want+1
		}
		appendLines(t, f, kitLine(i, id))
	}
	path := Path(dir, "hello", "hello-1-aaaa")
	if _, _, err := Index(path); err != nil {
		t.Fatal(err)
	}
	idx := indexPath(path)
	st, _ := os.Stat(idx)
	chunks, _, _ := readIndex(idx)
	// a crash in the middle of a record, and garbage after it
	if err := os.Truncate(idx, st.Size()-7); err != nil {
		t.Fatal(err)
	}
	if got, err := FindTrace(context.Background(), dir, tr, nil); err != nil || len(got) != want {
		t.Fatalf("with a torn index: %d lines, %v; want %d", len(got), err, want)
	}
	if n, _, err := Index(path); err != nil || n == 0 {
		t.Fatalf("Index after the tear: %d bytes, %v; want the torn chunk indexed again", n, err)
	}
	if again, _, _ := readIndex(idx); len(again) != len(chunks) {
		t.Fatalf("%d records after the repair, want %d", len(again), len(chunks))
	}
	// an index of something else entirely is replaced
	if err := os.WriteFile(idx, []byte("not an index"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := FindTrace(context.Background(), dir, tr, nil); err != nil || len(got) != want {
		t.Fatalf("with a foreign index: %d lines, %v; want %d", len(got), err, want)
	}
	if _, left, err := Index(path); err != nil || left != 0 {
		t.Fatalf("Index over a foreign index: %v, %d bytes left", err, left)
	}
}

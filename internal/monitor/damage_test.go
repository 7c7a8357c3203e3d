package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// floatSample is one sample of a block written by writeBlock.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

// writeBlock writes a block of 50 series x_total{i="0".."49"}, a sample every 5s for two
// hours from from, into dir, and returns its directory.
func writeBlock(t *testing.T, dir string, from time.Time) string {
	t.Helper()
	var series []storage.Series
	for i := 0; i < 50; i++ {
		var ss []chunks.Sample
		for ts := from; ts.Before(from.Add(2 * time.Hour)); ts = ts.Add(5 * time.Second) {
			ss = append(ss, floatSample{ts.UnixMilli(), float64(ts.Unix())})
		}
		series = append(series, storage.NewListSeries(labels.FromStrings("__name__", "x_total", "i", fmt.Sprint(i)), ss))
	}
	b, err := tsdb.CreateBlock(series, dir, (8 * time.Hour).Milliseconds(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logTo is a JSON logger into buf, as tend server's.
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewJSONHandler(buf, nil)) }

// logLines are the lines of a JSON log at level or above whose msg contains what.
func logLines(t *testing.T, log string, level slog.Level, what string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		var l slog.Level
		if s, _ := m["level"].(string); l.UnmarshalText([]byte(s)) != nil || l < level {
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, what) {
			out = append(out, m)
		}
	}
	return out
}

// seriesAt counts the x_total series with a sample in the 5m before at.
func seriesAt(t *testing.T, m *Monitor, at time.Time) int {
	t.Helper()
	v, err := m.Query(context.Background(), `count(x_total)`, at)
	if err != nil {
		t.Fatalf("query at %s: %v", at, err)
	}
	if len(v) == 0 {
		return 0
	}
	return int(v[0].Value)
}

// A damaged block is moved into DATA/metrics/damaged with a warning that names it and
// the way back; the metrics database opens without it, and every other sample is there.
func TestADamagedBlockIsMovedAsideAndTheRestOpens(t *testing.T) {
	truncate := func(t *testing.T, f string) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	damages := []struct {
		name   string
		damage func(t *testing.T, block string)
	}{
		{"no damage", nil},
		{"meta.json garbled", func(t *testing.T, b string) {
			if err := os.WriteFile(filepath.Join(b, "meta.json"), []byte(`{"ulid": "01`), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta.json removed", func(t *testing.T, b string) { os.Remove(filepath.Join(b, "meta.json")) }},
		{"index removed", func(t *testing.T, b string) { os.Remove(filepath.Join(b, "index")) }},
		{"index truncated", func(t *testing.T, b string) { truncate(t, filepath.Join(b, "index")) }},
		{"chunks file truncated", func(t *testing.T, b string) { truncate(t, filepath.Join(b, "chunks", "000001")) }},
		{"chunks dir removed", func(t *testing.T, b string) { os.RemoveAll(filepath.Join(b, "chunks")) }},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Now()
			older, newer := now.Add(-6*time.Hour), now.Add(-4*time.Hour)
			writeBlock(t, dir, older)
			block := writeBlock(t, dir, newer)
			if d.damage != nil {
				d.damage(t, block)
			}
			var log bytes.Buffer
			start := time.Now()
			m, err := Open(Options{Dir: dir, Logger: logTo(&log)})
			if err != nil {
				t.Fatalf("Open: %v, want it to open without the damaged block", err)
			}
			defer m.Close()
			t.Logf("opened in %s", time.Since(start).Round(time.Millisecond))
			if n := seriesAt(t, m, older.Add(time.Hour)); n != 50 {
				t.Errorf("the healthy block's time: %d series, want 50", n)
			}
			moved := logLines(t, log.String(), slog.LevelWarn, "damaged block")
			if d.damage == nil {
				if n := seriesAt(t, m, newer.Add(time.Hour)); n != 50 || len(moved) > 0 || len(m.DamagedBlocks()) > 0 {
					t.Errorf("a healthy database: %d series in the second block (want 50), moved aside %v, logged %v", n, m.DamagedBlocks(), moved)
				}
				return
			}
			aside := filepath.Join(dir, DamagedDir, filepath.Base(block))
			if _, err := os.Stat(block); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the damaged block is still at %s", block)
			}
			if _, err := os.Stat(aside); err != nil {
				t.Errorf("the damaged block is not kept at %s: %v", aside, err)
			}
			if len(moved) != 1 || moved[0]["block"] != block || moved[0]["movedTo"] != aside ||
				!strings.Contains(fmt.Sprint(moved[0]["wayOut"]), "backup") || fmt.Sprint(moved[0]["damage"]) == "" {
				t.Fatalf("want one warning naming %s, %s, the damage and the way out; log:\n%s", block, aside, log.String())
			}
			t.Logf("%s: %v (%v)", moved[0]["msg"], moved[0]["damage"], moved[0]["wayOut"])
			if n := seriesAt(t, m, newer.Add(time.Hour)); n != 0 {
				t.Errorf("the damaged block's time: %d series, want none", n)
			}
			if got := m.DamagedBlocks(); len(got) != 1 || got[0].Block != block {
				t.Errorf("DamagedBlocks() = %+v", got)
			}
			// the next start finds nothing more to move
			m.Close()
			log.Reset()
			m2, err := Open(Options{Dir: dir, Logger: logTo(&log)})
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			if len(m2.DamagedBlocks()) != 0 || len(logLines(t, log.String(), slog.LevelWarn, "damaged")) != 0 {
				t.Errorf("the second start warns again: %s", log.String())
			}
		})
	}
}

// A metrics database that does not open at all stops the server with a message that
// names it and the way out.
func TestAMetricsDatabaseThatDoesNotOpenSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := os.RemoveAll(filepath.Join(dir, "wal")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wal"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	var de *DamagedError
	if !errors.As(err, &de) || de.Dir != dir {
		t.Fatalf("Open: %v, want a DamagedError for %s", err, dir)
	}
	for _, want := range []string{dir + " does not open", "restore " + dir, "mv " + dir + " " + dir + ".damaged"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}

// A damaged write-ahead log is cut at the damage by the TSDB; tend says so, naming it,
// and the samples before the damage are still there.
func TestADamagedWALIsCutAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 200 {
		app := m.db.Appender(context.Background())
		for s := range 20 {
			if _, err := app.Append(0, labels.FromStrings("__name__", "x_total", "s", fmt.Sprint(s)), now.Add(time.Duration(i-200)*time.Second).UnixMilli(), float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	seg := filepath.Join(dir, "wal", "00000000")
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(raw) / 2; i < len(raw)/2+64; i++ {
		raw[i] ^= 0x5a
	}
	if err := os.WriteFile(seg, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	m, err = Open(Options{Dir: dir, Logger: logTo(&log)})
	if err != nil {
		t.Fatalf("Open on a damaged WAL: %v, want the TSDB to repair it", err)
	}
	defer m.Close()
	warned := logLines(t, log.String(), slog.LevelWarn, "write-ahead log was damaged")
	if len(warned) != 1 || warned[0]["wal"] != filepath.Join(dir, "wal") {
		t.Fatalf("want one warning naming %s; log:\n%s", filepath.Join(dir, "wal"), log.String())
	}
	v, err := m.Query(context.Background(), `sum(count_over_time(x_total[10m]))`, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Value <= 0 || v[0].Value >= 4000 {
		t.Errorf("samples after the repair: %v, want some of the 4000 written, not all", v)
	}
}

package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Query selects log lines. The filters (Revision, Live, Since, Until, Grep, Level)
// apply before Tail counts, so Tail lines are Tail lines that pass them.
type Query struct {
	App string
	// Instance limits the lines to one instance ("" for all). A named instance is read
	// whether Live says it runs or not.
	Instance string
	// Revision limits the lines to instances of that revision (0: all), as their ids
	// tell (APP-REVISION-SUFFIX).
	Revision int
	// Live, when not nil, says which of the instances whose logs are there when Read
	// begins are read: those that run now (tend logs), or those that have exited (tend
	// logs --previous). Logs that appear while following are of new instances and are
	// read.
	Live func(instance string) bool
	// Tail is how many lines in total, across instances, to start with: the last ones,
	// from the current files and, when they hold fewer, from their rotated copies.
	// 0: none (with Follow, only new lines); below 0: every line kept.
	Tail int
	// Follow keeps emitting new lines until the context ends (or Until passes).
	Follow bool
	// Since drops lines older than this time, Until lines newer (zero: no bound). A
	// following Read ends once the clock passes Until.
	Since, Until time.Time
	// Grep keeps only the lines it matches (nil: all), on the raw line.
	Grep *regexp.Regexp
	// Level keeps only slog JSON lines of this level or above (nil: every line, JSON or not).
	Level *slog.Level
}

// Line is one line of an instance's output.
type Line struct {
	Instance string `json:"instance"`
	// Revision is the instance's revision, from its id (0: unknown).
	Revision int    `json:"revision,omitempty"`
	Text     string `json:"text"`
	// At is the line's "time" field when it is slog JSON, else when tend read it
	// (for lines already in a file: the file's modification time).
	At time.Time `json:"at"`
	// level is the slog JSON line's level, when it has one.
	level    slog.Level
	hasLevel bool
}

// pollInterval is how often Follow looks for new lines.
const pollInterval = 200 * time.Millisecond

// Read emits the last lines of the selected instances, merged by time, and with
// Follow every later line, until ctx ends; then it returns nil. It follows lines
// across rotations and picks up instances whose log file appears later.
func Read(ctx context.Context, dataDir string, q Query, emit func(Line) error) error {
	if !validName(q.App) || (q.Instance != "" && !validName(q.Instance)) {
		return fmt.Errorf("logs: app %q, instance %q: want plain names, as tend status shows them", q.App, q.Instance)
	}
	dir := filepath.Join(dataDir, "logs", q.App)
	files, err := instanceFiles(dir, q.Instance)
	if err != nil {
		return err
	}
	// followers has every file seen; nil for those left out (dead or of another revision)
	followers := map[string]*follower{}
	var batch []Line
	for _, path := range files {
		if !q.selects(instanceOf(path), true) {
			followers[path] = nil
			continue
		}
		f := newFollower(q.App, path)
		lines, err := f.start(q)
		if err != nil {
			return err
		}
		followers[path] = f
		batch = append(batch, lines...)
	}
	sortByTime(batch)
	if q.Tail >= 0 && len(batch) > q.Tail {
		batch = batch[len(batch)-q.Tail:]
	}
	if err := emitAll(batch, emit); err != nil || !q.Follow {
		return err
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		files, err := instanceFiles(dir, q.Instance)
		if err != nil {
			return err
		}
		batch = batch[:0]
		for _, path := range files {
			f, seen := followers[path]
			if !seen {
				if !q.selects(instanceOf(path), false) {
					followers[path] = nil
					continue
				}
				// a new instance: all it wrote is new
				f = newFollower(q.App, path)
				followers[path] = f
			}
			if f == nil {
				continue
			}
			lines, err := f.poll()
			if err != nil {
				return err
			}
			for _, l := range lines {
				if q.keeps(l) {
					batch = append(batch, l)
				}
			}
		}
		sortByTime(batch)
		if err := emitAll(batch, emit); err != nil {
			return err
		}
		if !q.Until.IsZero() && time.Now().After(q.Until) {
			return nil
		}
	}
}

// selects reports whether an instance's log is read; atStart: its file was there when Read began.
func (q Query) selects(instance string, atStart bool) bool {
	if q.Revision != 0 && RevisionOf(q.App, instance) != q.Revision {
		return false
	}
	return !atStart || q.Instance != "" || q.Live == nil || q.Live(instance)
}

// keeps reports whether a line passes the query's time, text and level filters.
func (q Query) keeps(l Line) bool {
	if l.At.Before(q.Since) || (!q.Until.IsZero() && l.At.After(q.Until)) {
		return false
	}
	if q.Level != nil && (!l.hasLevel || l.level < *q.Level) {
		return false
	}
	return q.Grep == nil || q.Grep.MatchString(l.Text)
}

// RevisionOf is the revision in an instance id (APP-REVISION-SUFFIX), 0 when it has none.
func RevisionOf(app, instance string) int {
	rest, ok := strings.CutPrefix(instance, app+"-")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, "-")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// sortByTime orders lines by time (lines of one file keep their order).
func sortByTime(lines []Line) {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].At.Before(lines[j].At) })
}

func emitAll(lines []Line, emit func(Line) error) error {
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	return nil
}

func instanceFiles(dir, instance string) ([]string, error) {
	if instance != "" {
		path := filepath.Join(dir, instance+".log")
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
		return []string{path}, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, fmt.Errorf("list logs in %s: %w", dir, err)
	}
	return files, nil
}

func instanceOf(path string) string { return strings.TrimSuffix(filepath.Base(path), ".log") }

const (
	// chunkSize is how much of a file is read at a time, going backwards.
	chunkSize = 64 << 10
	// maxLineBytes bounds a line read backwards: of a longer one, its end is kept.
	maxLineBytes = 1 << 20
)

// backward calls fn with the segments of f's first size bytes between newlines, last
// first, and the offset where each begins, until fn returns false or the start is
// reached. The first segment is what follows the last newline ("" when the data ends
// with one, or is empty).
func backward(f *os.File, size int64, fn func(text string, start int64) bool) error {
	var carry []byte // the end of a segment that begins before pos
	pos := size
	for {
		n := min(chunkSize, pos)
		pos -= n
		data := make([]byte, n, n+int64(len(carry)))
		if _, err := f.ReadAt(data, pos); err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", f.Name(), err)
		}
		data = append(data, carry...)
		// carry holds no newline: every one found is in what was just read, at pos+i
		for {
			i := bytes.LastIndexByte(data, '\n')
			if i < 0 {
				break
			}
			if !fn(string(lineEnd(data[i+1:])), pos+int64(i)+1) {
				return nil
			}
			data = data[:i]
		}
		if pos == 0 {
			fn(string(lineEnd(data)), 0)
			return nil
		}
		carry = append([]byte(nil), lineEnd(data)...)
	}
}

// lineEnd is the last maxLineBytes of a line.
func lineEnd(b []byte) []byte { return b[max(0, len(b)-maxLineBytes):] }

// sinceSlack is how far before Since a line may be and reading backwards go on: lines
// of one file are in time order but for goroutines racing to write.
const sinceSlack = time.Second

// collect reads f's first size bytes backwards and returns, in file order, the last
// want lines (want < 0: all) that pass q, stopping early at lines well before q.Since.
// The first segment (after the last newline) is a line only with partial; end is where
// it begins.
func (f *follower) collect(file *os.File, size int64, modTime time.Time, partial bool, q Query, want int) (lines []Line, end int64, done bool, err error) {
	first := true
	end = size
	err = backward(file, size, func(text string, start int64) bool {
		if first {
			first = false
			end = start
			if !partial || text == "" {
				return want != 0
			}
		}
		if want == 0 {
			return false
		}
		l := f.line(text, modTime)
		if l.At.Before(q.Since.Add(-sinceSlack)) {
			done = true
			return false
		}
		if q.keeps(l) {
			lines = append(lines, l)
			if want > 0 && len(lines) >= want {
				return false
			}
		}
		return true
	})
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines, end, done, err
}

// parse takes the time and level from a slog JSON line; at is fallback for other lines.
func parse(text string, fallback time.Time) (at time.Time, level slog.Level, hasLevel bool) {
	if !strings.HasPrefix(text, "{") {
		return fallback, 0, false
	}
	var v struct {
		Time  time.Time `json:"time"`
		Level *string   `json:"level"`
	}
	if json.Unmarshal([]byte(text), &v) != nil {
		return fallback, 0, false
	}
	at = fallback
	if !v.Time.IsZero() {
		at = v.Time
	}
	if v.Level != nil && level.UnmarshalText([]byte(*v.Level)) == nil {
		hasLevel = true
	}
	return at, level, hasLevel
}

// NewLine is a line an instance wrote that was read from elsewhere than a file here (a
// pod's log, through the Kubernetes API), at the time its source gives, which a slog
// JSON line's own time field overrides as for lines read here.
func NewLine(instance string, revision int, text string, at time.Time) Line {
	t, level, hasLevel := parse(text, at)
	return Line{Instance: instance, Revision: revision, Text: text, At: t, level: level, hasLevel: hasLevel}
}

// Keeps reports whether a line passes the query's time, text and level filters.
func (q Query) Keeps(l Line) bool { return q.keeps(l) }

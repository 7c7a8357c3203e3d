package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Query selects log lines.
type Query struct {
	App string
	// Instance limits the lines to one instance ("" for all).
	Instance string
	// Tail is how many lines per instance to start with (default 100), taken from
	// the current file and, when it holds fewer, from its rotated copies.
	Tail int
	// Follow keeps emitting new lines until the context ends.
	Follow bool
	// Since drops lines older than this time (zero: keep all).
	Since time.Time
}

// Line is one line of an instance's output.
type Line struct {
	Instance string `json:"instance"`
	Text     string `json:"text"`
	// At is the line's "time" field when it is slog JSON, else when tend read it
	// (for lines already in a file: the file's modification time).
	At time.Time `json:"at"`
}

// pollInterval is how often Follow looks for new lines.
const pollInterval = 200 * time.Millisecond

// Read emits the last lines of every selected instance, merged by time, and with
// Follow every later line, until ctx ends; then it returns nil. It follows lines
// across rotations and picks up instances whose log file appears later.
func Read(ctx context.Context, dataDir string, q Query, emit func(Line) error) error {
	if !validName(q.App) || (q.Instance != "" && !validName(q.Instance)) {
		return fmt.Errorf("logs: app %q, instance %q: want plain names, as tend status shows them", q.App, q.Instance)
	}
	if q.Tail <= 0 {
		q.Tail = 100
	}
	dir := filepath.Join(dataDir, "logs", q.App)
	files, err := instanceFiles(dir, q.Instance)
	if err != nil {
		return err
	}
	followers := map[string]*follower{}
	var batch []Line
	for _, path := range files {
		f := newFollower(path)
		lines, err := f.start(q.Tail, q.Follow)
		if err != nil {
			return err
		}
		followers[path] = f
		batch = append(batch, lines...)
	}
	if err := emitBatch(batch, q.Since, emit); err != nil || !q.Follow {
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
			f := followers[path]
			if f == nil {
				// a new instance: all it wrote is new
				f = newFollower(path)
				followers[path] = f
			}
			lines, err := f.poll()
			if err != nil {
				return err
			}
			batch = append(batch, lines...)
		}
		if err := emitBatch(batch, q.Since, emit); err != nil {
			return err
		}
	}
}

// emitBatch emits lines at or after since, ordered by time (lines of one file keep their order).
func emitBatch(lines []Line, since time.Time, emit func(Line) error) error {
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].At.Before(lines[j].At) })
	for _, l := range lines {
		if l.At.Before(since) {
			continue
		}
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

// maxTailBytes bounds how much of a file is read to find its last lines.
const maxTailBytes = 8 << 20

// lastLines returns the last n complete lines of f's first size bytes, the offset just
// after them, and a trailing incomplete line ("" when the data ends with a newline).
func lastLines(f *os.File, size int64, n int) (lines []string, end int64, partial string, err error) {
	start := max(0, size-min(int64(n)*(64<<10), maxTailBytes))
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return nil, 0, "", fmt.Errorf("read %s: %w", f.Name(), err)
	}
	nl := bytes.LastIndexByte(buf, '\n')
	partial = string(buf[nl+1:])
	end = start + int64(nl+1)
	if nl < 0 {
		return nil, end, partial, nil
	}
	lines = strings.Split(string(buf[:nl]), "\n")
	if start > 0 {
		lines = lines[1:] // the first line began before start
	}
	return lines[max(0, len(lines)-n):], end, partial, nil
}

// timeOf takes the time from a slog JSON line, else returns fallback.
func timeOf(text string, fallback time.Time) time.Time {
	if !strings.HasPrefix(text, "{") {
		return fallback
	}
	var v struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal([]byte(text), &v) == nil && !v.Time.IsZero() {
		return v.Time
	}
	return fallback
}

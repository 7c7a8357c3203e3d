// Package logs keeps instance log files: where they live, rotation by copy-truncate, and reading or following them.
package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Path is the log file of one instance: its stdout and stderr, appended by the instance itself.
func Path(dataDir, app, instance string) string {
	return filepath.Join(dataDir, "logs", app, instance+".log")
}

// Rotate copies path to path.1 (shifting older copies up to path.keep) and truncates it,
// when it is larger than maxBytes. The instance keeps its O_APPEND descriptor and goes
// on writing at the start of the truncated file.
func Rotate(path string, maxBytes int64, keep int) (bool, error) {
	st, err := os.Stat(path)
	if err != nil || st.Size() <= maxBytes {
		return false, nil
	}
	for i := keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
	}
	src, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer src.Close()
	dst, err := os.OpenFile(path+".1", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		return false, fmt.Errorf("truncate %s: %w", path, err)
	}
	return true, nil
}

// Query selects log lines.
type Query struct {
	App string
	// Instance limits the lines to one instance ("" for all).
	Instance string
	// Tail is how many lines per instance to start with (default 100).
	Tail int
	// Follow keeps emitting new lines until the context ends.
	Follow bool
}

// Line is one line of an instance's output.
type Line struct {
	Instance string    `json:"instance"`
	Text     string    `json:"text"`
	At       time.Time `json:"at"`
}

// Read emits the last lines of every selected instance, merged by time, and with
// Follow every later line, until ctx ends. Removed instances' files stay readable.
func Read(ctx context.Context, dataDir string, q Query, emit func(Line) error) error {
	if q.Tail <= 0 {
		q.Tail = 100
	}
	dir := filepath.Join(dataDir, "logs", q.App)
	files, err := instanceFiles(dir, q.Instance)
	if err != nil {
		return err
	}
	var first []Line
	offsets := map[string]int64{}
	for _, f := range files {
		lines, size, err := tail(f, q.Tail)
		if err != nil {
			return err
		}
		offsets[f] = size
		first = append(first, lines...)
	}
	sort.SliceStable(first, func(i, j int) bool { return first[i].At.Before(first[j].At) })
	for _, l := range first {
		if err := emit(l); err != nil {
			return err
		}
	}
	if !q.Follow {
		return nil
	}
	t := time.NewTicker(200 * time.Millisecond)
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
		for _, f := range files {
			off, err := follow(f, offsets[f], emit)
			if err != nil {
				return err
			}
			offsets[f] = off
		}
	}
}

func instanceFiles(dir, instance string) ([]string, error) {
	pattern := "*.log"
	if instance != "" {
		pattern = instance + ".log"
	}
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, err
	}
	return files, nil
}

func instanceOf(path string) string { return strings.TrimSuffix(filepath.Base(path), ".log") }

// tail returns the last n lines of path and its size.
func tail(path string, n int) ([]Line, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	// read at most the last 64 KiB per wanted line, bounded at 8 MiB
	size := st.Size()
	start := max(0, size-min(int64(n)*64<<10, 8<<20))
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, 0, err
	}
	var texts []string
	sc := bufio.NewScanner(io.LimitReader(f, size-start))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		texts = append(texts, sc.Text())
	}
	if start > 0 && len(texts) > 0 {
		texts = texts[1:] // a partial first line
	}
	texts = texts[max(0, len(texts)-n):]
	mod := st.ModTime()
	lines := make([]Line, len(texts))
	for i, t := range texts {
		lines[i] = Line{Instance: instanceOf(path), Text: t, At: timeOf(t, mod)}
	}
	return lines, size, nil
}

// follow emits the complete lines written to path after offset and returns the new offset;
// a file that shrank was rotated (copy-truncate) and is read from its start.
func follow(path string, offset int64, emit func(Line) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return offset, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return offset, err
	}
	if st.Size() < offset {
		offset = 0
	}
	if st.Size() == offset {
		return offset, nil
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	r := bufio.NewReader(io.LimitReader(f, st.Size()-offset))
	for {
		text, err := r.ReadString('\n')
		if err != nil {
			return offset, nil // an incomplete last line waits for its newline
		}
		offset += int64(len(text))
		text = strings.TrimSuffix(text, "\n")
		if err := emit(Line{Instance: instanceOf(path), Text: text, At: timeOf(text, time.Now())}); err != nil {
			return offset, err
		}
	}
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

package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/tendhq/tend/internal/trace"
)

// AppLine is a log line and the app whose instance wrote it.
type AppLine struct {
	App string
	Line
}

// FindTrace returns every line that carries the trace id in the logs of the apps apps
// selects (nil: all), current and rotated, in time order. It reads only the chunks
// whose index may hold the id, and whatever the index does not cover yet.
func FindTrace(ctx context.Context, dataDir string, id trace.TraceID, apps func(string) bool) ([]AppLine, error) {
	root := filepath.Join(dataDir, "logs")
	dirs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list logs in %s: %w", root, err)
	}
	needle := []byte(id.String())
	var out []AppLine
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") || (apps != nil && !apps(d.Name())) {
			continue
		}
		app := d.Name()
		files, err := filepath.Glob(filepath.Join(root, app, "*.log"))
		if err != nil {
			return nil, err
		}
		for _, path := range files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			lines, err := findInInstance(path, app, id, needle)
			if err != nil {
				return nil, err
			}
			out = append(out, lines...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// findInInstance searches an instance's log and its rotated copies, holding the log's
// shared lock so that a rotation does not move them meanwhile.
func findInInstance(path, app string, id trace.TraceID, needle []byte) ([]AppLine, error) {
	lock, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		return nil, fmt.Errorf("read %s: lock: %w", path, err)
	}
	f := newFollower(app, path)
	var out []AppLine
	for i := 0; ; i++ {
		p := path
		if i > 0 {
			p = rotated(path, i)
		}
		lines, err := f.findIn(p, id, needle)
		if errors.Is(err, os.ErrNotExist) {
			if i == 0 {
				continue
			}
			break
		}
		if err != nil {
			return nil, err
		}
		// older copies first, so that lines of one time stay in file order
		out = append(lines, out...)
	}
	for i := range out {
		out[i].App = app
	}
	return out, nil
}

// findIn reads the lines of one file that carry the id.
func (f *follower) findIn(path string, id trace.TraceID, needle []byte) ([]AppLine, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	chunks, _, err := readIndex(indexPath(path))
	if err != nil {
		return nil, fmt.Errorf("read the trace index of %s: %w", path, err)
	}
	from := indexed(chunks)
	if from > st.Size() {
		chunks, from = nil, 0
	}
	var out []AppLine
	// scan reads [off, off+size) a window at a time, whole lines each
	scan := func(off, size int64) error {
		end := off + size
		for off < end {
			data := make([]byte, min(end-off, scanWindow))
			n, err := file.ReadAt(data, off)
			if err != nil && err != io.EOF {
				return fmt.Errorf("read %s: %w", path, err)
			}
			if n == 0 {
				return nil
			}
			data = data[:n]
			if off+int64(n) < end {
				if cut := bytes.LastIndexByte(data, '\n'); cut >= 0 {
					data = data[:cut+1]
				}
			}
			off += int64(len(data))
			for _, line := range linesWith(data, needle) {
				if containsID(line, id) {
					out = append(out, AppLine{Line: f.line(string(line), st.ModTime())})
				}
			}
		}
		return nil
	}
	for i := range chunks {
		if chunks[i].mayHold(id) {
			if err := scan(chunks[i].off, chunks[i].size); err != nil {
				return nil, err
			}
		}
	}
	if from < st.Size() {
		if err := scan(from, st.Size()-from); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanWindow is how much of a file's unindexed part is read at a time.
const scanWindow = 1 << 20

// linesWith returns the lines of data that hold needle.
func linesWith(data, needle []byte) [][]byte {
	var out [][]byte
	for {
		i := bytes.Index(data, needle)
		if i < 0 {
			return out
		}
		start := bytes.LastIndexByte(data[:i], '\n') + 1
		end := bytes.IndexByte(data[i:], '\n')
		if end < 0 {
			return append(out, data[start:])
		}
		out = append(out, data[start:i+end])
		data = data[i+end+1:]
	}
}

// containsID reports whether a line carries the id as its trace id (not merely the same
// digits elsewhere).
func containsID(line []byte, id trace.TraceID) bool {
	for _, got := range traceIDs(line, nil) {
		if got == id {
			return true
		}
	}
	return false
}

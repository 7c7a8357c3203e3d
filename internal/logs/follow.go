package logs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// follower reads one instance's log file: first its last lines, then whatever is
// appended, across copy-truncate rotations.
type follower struct {
	path, instance string
	revision       int
	// off is the offset in the current file just after the last line emitted.
	off int64
	// rot identifies path.1 when last seen; a different one means a rotation happened.
	rot fileID
}

// fileID tells one version of a file from another (zero: no file).
type fileID struct {
	dev, ino      uint64
	size, modTime int64
}

func idOf(path string) fileID {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys == nil {
		return fileID{size: st.Size(), modTime: st.ModTime().UnixNano()}
	}
	return fileID{dev: uint64(sys.Dev), ino: sys.Ino, size: st.Size(), modTime: st.ModTime().UnixNano()}
}

func newFollower(app, path string) *follower {
	inst := instanceOf(path)
	return &follower{path: path, instance: inst, revision: RevisionOf(app, inst), rot: idOf(rotated(path, 1))}
}

// start returns the last q.Tail lines that pass q, from the current file and then its
// rotated copies. When following, an incomplete last line waits until its newline is written.
func (f *follower) start(q Query) ([]Line, error) {
	var out []Line
	err := f.locked(func(cur *os.File, st os.FileInfo) error {
		f.rot = idOf(rotated(f.path, 1))
		lines, end, done, err := f.collect(cur, st.Size(), st.ModTime(), !q.Follow, q, q.Tail)
		if err != nil {
			return err
		}
		f.off = end
		out = lines
		for i := 1; !done && (q.Tail < 0 || len(out) < q.Tail); i++ {
			rest := -1
			if q.Tail >= 0 {
				rest = q.Tail - len(out)
			}
			var older []Line
			var ok bool
			older, ok, done, err = f.collectRotated(rotated(f.path, i), q, rest)
			if err != nil || !ok {
				return err
			}
			out = append(older, out...)
		}
		return nil
	})
	return out, err
}

// collectRotated returns the last n lines of a rotated copy that pass q (an incomplete
// last line included: its end went to the truncated file), and false when there is no such copy.
func (f *follower) collectRotated(path string, q Query, n int) (lines []Line, ok, done bool, err error) {
	rf, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("read rotated log: %w", err)
	}
	defer rf.Close()
	st, err := rf.Stat()
	if err != nil {
		return nil, false, false, err
	}
	lines, _, done, err = f.collect(rf, st.Size(), st.ModTime(), true, q, n)
	return lines, true, done, err
}

// poll returns the complete lines written since the last call. After rotations it first
// returns the unread rest of the copies they made, oldest first, then reads the current
// file from its start. Any number of rotations between two polls is followed as long as
// the copy last seen as path.1 is still kept; beyond that, lines between are lost.
func (f *follower) poll() ([]Line, error) {
	var out []Line
	err := f.locked(func(cur *os.File, st os.FileInfo) error {
		now := time.Now()
		if copies := rotatedIDs(f.path); len(copies) > 0 && copies[0] != f.rot {
			// copies[:n] are new; the oldest of them holds the rest of what was read (when the
			// copy seen last is gone, the oldest kept one is the best guess)
			n, from := len(copies), f.off
			if i := slices.Index(copies, f.rot); i >= 0 {
				n = i
			}
			for i := n; i >= 1; i-- {
				rest, err := readRotatedFrom(rotated(f.path, i), from)
				if err != nil {
					return err
				}
				out = append(out, f.lines(rest, now)...)
				from = 0
			}
			f.rot, f.off = copies[0], 0
		} else if st.Size() < f.off {
			f.off = 0 // truncated by something other than Rotate
		}
		texts, end, err := readLines(cur, f.off, st.Size())
		if err != nil {
			return err
		}
		f.off = end
		out = append(out, f.lines(texts, now)...)
		return nil
	})
	return out, err
}

// rotatedIDs identifies path.1, path.2, ... up to the first missing one.
func rotatedIDs(path string) []fileID {
	var ids []fileID
	for i := 1; ; i++ {
		id := idOf(rotated(path, i))
		if id == (fileID{}) {
			return ids
		}
		ids = append(ids, id)
	}
}

// readRotatedFrom returns the lines of a rotated copy after offset, an incomplete last
// line included (its end went to the truncated file).
func readRotatedFrom(path string, offset int64) ([]string, error) {
	rf, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	st, err := rf.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < offset {
		offset = 0 // not the copy that was being read: all of it is unread
	}
	texts, end, err := readLines(rf, offset, st.Size())
	if err != nil {
		return nil, err
	}
	if end < st.Size() {
		rest := make([]byte, st.Size()-end)
		if _, err := rf.ReadAt(rest, end); err != nil {
			return nil, err
		}
		texts = append(texts, string(rest))
	}
	return texts, nil
}

// readLines returns the complete lines of f between from and to, and the offset after the last of them.
func readLines(f *os.File, from, to int64) ([]string, int64, error) {
	if to <= from {
		return nil, from, nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, to-from), 64<<10)
	var texts []string
	for {
		text, err := r.ReadString('\n')
		if err == io.EOF {
			return texts, from, nil // an incomplete last line waits for its newline
		}
		if err != nil {
			return texts, from, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		from += int64(len(text))
		texts = append(texts, strings.TrimSuffix(text, "\n"))
	}
}

// locked calls fn with the current file open under a shared lock, so that no rotation
// runs meanwhile. A missing file (the instance was removed) calls nothing.
func (f *follower) locked(fn func(cur *os.File, st os.FileInfo) error) error {
	cur, err := os.Open(f.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer cur.Close()
	if err := syscall.Flock(int(cur.Fd()), syscall.LOCK_SH); err != nil {
		return fmt.Errorf("read log %s: lock: %w", f.path, err)
	}
	st, err := cur.Stat()
	if err != nil {
		return err
	}
	return fn(cur, st)
}

func (f *follower) lines(texts []string, fallback time.Time) []Line {
	out := make([]Line, len(texts))
	for i, t := range texts {
		out[i] = f.line(t, fallback)
	}
	return out
}

func (f *follower) line(text string, fallback time.Time) Line {
	at, level, hasLevel := parse(text, fallback)
	return Line{Instance: f.instance, Revision: f.revision, Text: text, At: at, level: level, hasLevel: hasLevel}
}

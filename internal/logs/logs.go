// Package logs keeps instance log files: where they live, rotation by copy-truncate, and reading or following them.
package logs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Path is the log file of one instance: its stdout and stderr, appended by the instance itself.
func Path(dataDir, app, instance string) string {
	return filepath.Join(dataDir, "logs", app, instance+".log")
}

// rotated is the name of the n-th older copy of a log file (path.1 is the newest).
// Has reports whether an instance of app has a log in dataDir.
func Has(dataDir, app, instance string) bool {
	if !validName(app) || !validName(instance) {
		return false
	}
	_, err := os.Stat(Path(dataDir, app, instance))
	return err == nil
}

func rotated(path string, n int) string { return fmt.Sprintf("%s.%d", path, n) }

// Rotate copies path to path.1 (shifting older copies up to path.keep, dropping the
// oldest) and truncates it, when it is larger than maxBytes. The instance keeps its
// O_APPEND descriptor and goes on writing at the start of the truncated file. Lines the
// instance writes while the copy runs are lost, as with any copy-truncate rotation.
// Readers hold a shared lock on path, so they see a rotation whole or not at all.
func Rotate(path string, maxBytes int64, keep int) (bool, error) {
	keep = max(keep, 1)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("rotate %s: lock: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() <= maxBytes {
		return false, err
	}
	// the index is brought up to the end first: it moves with the copy, which holds
	// every byte it covers
	if _, _, err := indexLocked(path); err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	tmp := path + ".rotating"
	if err := copyTo(tmp, f); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("rotate %s: %w (check free space in the data dir)", path, err)
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(rotated(path, i), rotated(path, i+1)); err != nil && !os.IsNotExist(err) {
			os.Remove(tmp)
			return false, fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, rotated(path, 1)); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	shiftIndexes(path, keep)
	if err := os.Truncate(path, 0); err != nil {
		return false, fmt.Errorf("rotate %s: truncate: %w", path, err)
	}
	return true, nil
}

func copyTo(dst string, src io.Reader) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// validName reports whether an app or instance name can be used as one path element.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

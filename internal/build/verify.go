package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ArtifactError is an artifact that instances cannot start from: missing, or not the
// bytes its digest names (a data dir copied while a build was stored, a disk that lost
// the file's end). Without this check such a file is exec'd and dies at once, with
// SIGSEGV or "exec format error", restart after restart, and nothing says why.
type ArtifactError struct {
	Path string // DATA/artifacts/<hex>/<app>
	App  string // the name it is stored under: the app's
	What string // what is wrong with it
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("the artifact %s %s: no instance can start from it. Deploy %s again (tend deploy -f tend.yaml: from the same source the artifact is built again "+
		"in place and the instances restart from it; from a changed one a new revision replaces this one), or roll back to a revision whose artifact is whole (tend rollback %s)", e.Path, e.What, e.App, e.App)
}

// verified remembers the artifacts Verify found whole, by path, with what identifies
// their file: a restart of an instance from an unchanged artifact costs a stat.
var verified sync.Map // path -> fileID

type fileID struct {
	size, ino int64
	mtime     time.Time
}

func idOf(st os.FileInfo) fileID {
	id := fileID{size: st.Size(), mtime: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.ino = int64(sys.Ino)
	}
	return id
}

// Verify checks, before an instance starts from it, that the executable at path is
// there and, for an artifact stored under its digest (Dir/<hex>/<app>), that its sha256
// is that digest. It hashes a file once per change of it.
func Verify(path string) error {
	app := filepath.Base(path)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		verified.Delete(path)
		return &ArtifactError{Path: path, App: app, What: "is missing"}
	case err != nil:
		verified.Delete(path)
		return &ArtifactError{Path: path, App: app, What: "cannot be read: " + err.Error()}
	case !st.Mode().IsRegular():
		verified.Delete(path)
		return &ArtifactError{Path: path, App: app, What: "is not a file"}
	}
	id := idOf(st)
	if v, ok := verified.Load(path); ok && v.(fileID) == id {
		return nil
	}
	want := filepath.Base(filepath.Dir(path))
	if !isDigestHex(want) {
		return nil // not stored by digest (a path the runtime was given as is): nothing to compare
	}
	got, err := fileDigest(path)
	if err != nil {
		verified.Delete(path)
		return &ArtifactError{Path: path, App: app, What: "cannot be read: " + err.Error()}
	}
	if got != "sha256:"+want {
		verified.Delete(path)
		return &ArtifactError{Path: path, App: app,
			What: fmt.Sprintf("is damaged: its %d bytes have sha256 %s, not the %s it was stored under", st.Size(), strings.TrimPrefix(got, "sha256:")[:12], want[:12])}
	}
	verified.Store(path, id)
	return nil
}

package upload

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrInvalid marks an upload the server refuses: not a bundle, over the limits, or not
// what its digest says.
var ErrInvalid = errors.New("invalid upload")

// Info is what the server says of an upload it has.
type Info struct {
	Digest string
	Files  int
	Size   int64
}

// Store keeps uploads unpacked, each in Dir/DIGEST/root with its files under their
// client paths, made read-only.
type Store struct {
	Dir string
}

// Root is where upload digest's files are.
func (s *Store) Root(digest string) string { return filepath.Join(s.Dir, digest, "root") }

// Has reports whether the upload is there.
func (s *Store) Has(digest string) bool {
	if CheckDigest(digest) != nil {
		return false
	}
	fi, err := os.Stat(s.Root(digest))
	return err == nil && fi.IsDir()
}

// Touch marks an upload as just used, so that Collect keeps it for minAge again: the
// client that asked for it deploys from it next.
func (s *Store) Touch(digest string) {
	if CheckDigest(digest) == nil {
		now := time.Now()
		_ = os.Chtimes(filepath.Join(s.Dir, digest), now, now)
	}
}

// Put unpacks a bundle's gzipped tar stream and keeps it as digest, once its files are
// what the digest says; nothing of a refused or broken stream stays.
func (s *Store) Put(want string, r io.Reader) (Info, error) {
	if err := CheckDigest(want); err != nil {
		return Info{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return Info{}, fmt.Errorf("create the upload dir: %w", err)
	}
	tmp, err := os.MkdirTemp(s.Dir, ".put-")
	if err != nil {
		return Info{}, fmt.Errorf("create the upload dir: %w", err)
	}
	defer removeTree(tmp)
	files, err := unpack(r, filepath.Join(tmp, "root"))
	if err != nil {
		return Info{}, err
	}
	info := Info{Digest: want, Files: len(files)}
	for _, f := range files {
		info.Size += f.Size
	}
	if got := digest(sortFiles(files)); got != want {
		return Info{}, fmt.Errorf("%w: its files have digest %s, not %s: the upload was changed or cut", ErrInvalid, got, want)
	}
	if s.Has(want) {
		return info, nil // another client put it meanwhile
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, want)); err != nil && !s.Has(want) {
		return Info{}, fmt.Errorf("keep the upload: %w", err)
	}
	return info, nil
}

// unpack writes the stream's regular files under root and returns them as a bundle
// lists them.
func unpack(r io.Reader, root string) ([]File, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: want a gzipped tar stream: %w", ErrInvalid, err)
	}
	tr := tar.NewReader(zr)
	var files []File
	var total int64
	seen, dirs := map[string]bool{}, map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read the stream: %w", ErrInvalid, err)
		}
		name := path.Clean(h.Name)
		mode := os.FileMode(h.Mode)
		switch {
		case h.Typeflag != tar.TypeReg:
			return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, h.Name)
		case !filepath.IsLocal(name) || name != h.Name:
			return nil, fmt.Errorf("%w: %q is not a clean relative path", ErrInvalid, h.Name)
		case seen[name]:
			return nil, fmt.Errorf("%w: %s appears twice", ErrInvalid, name)
		case h.Mode != 0o644 && h.Mode != 0o755:
			return nil, fmt.Errorf("%w: %s has mode %o (want 644 or 755)", ErrInvalid, name, h.Mode)
		case len(files) >= MaxFiles || total+h.Size > MaxSize:
			return nil, fmt.Errorf("%w: more than %d files or %d MiB", ErrInvalid, MaxFiles, MaxSize>>20)
		}
		seen[name] = true
		total += h.Size
		f, err := writeUnpacked(tr, filepath.Join(root, filepath.FromSlash(name)), mode, h.Size, dirs)
		if err != nil {
			return nil, err
		}
		f.Path = "/" + name
		files = append(files, f)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return files, nil
}

// writeUnpacked writes one file, created read-only (the open descriptor may still
// write it), making its directory first unless dirs says it is there.
func writeUnpacked(r io.Reader, to string, mode os.FileMode, size int64, dirs map[string]bool) (File, error) {
	if dir := filepath.Dir(to); !dirs[dir] {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return File{}, fmt.Errorf("unpack the upload: %w", err)
		}
		dirs[dir] = true
	}
	w, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode&^0o222)
	if err != nil {
		// a path that is both a file and a directory of another file
		return File{}, fmt.Errorf("%w: unpack %s: %w", ErrInvalid, to, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != size {
		return File{}, fmt.Errorf("%w: unpack %s: %d of %d bytes: %w", ErrInvalid, to, n, size, err)
	}
	f := File{Mode: mode, Size: n}
	copy(f.Sum[:], h.Sum(nil))
	return f, nil
}

// Collect removes the uploads that no root in keep is in and that are older than
// minAge (an upload waits for its deploy meanwhile), and what interrupted puts left.
func (s *Store) Collect(keep map[string]bool, minAge time.Duration) (removed int, err error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < minAge {
			continue
		}
		if !strings.HasPrefix(e.Name(), ".put-") && (CheckDigest(e.Name()) != nil || keep[s.Root(e.Name())]) {
			continue
		}
		if err := removeTree(filepath.Join(s.Dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// removeTree removes an unpacked upload, whose files and dirs may be read-only.
func removeTree(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is a Target in a local directory: each archive NAME has a sidecar NAME.sha256
// with its checksum, written once the archive is whole.
type Dir struct{ Path string }

const sumSuffix = ".sha256"

func (d Dir) String() string { return d.Path }

// Put writes to a temporary file in the directory, syncs it and renames it into place:
// a crash or a failed write leaves no archive, only a temporary file the next Put of
// the same directory removes.
func (d Dir) Put(_ context.Context, name string, write func(io.Writer) error) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return Object{}, fmt.Errorf("backup dir %s: %w", d.Path, err)
	}
	d.removeStale()
	start := time.Now()
	f, err := os.CreateTemp(d.Path, ".partial-*")
	if err != nil {
		return Object{}, fmt.Errorf("backup dir %s: %w", d.Path, err)
	}
	defer os.Remove(f.Name()) // gone once renamed
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(f, h)}
	err = write(cw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Object{}, fmt.Errorf("write %s to %s: %w", name, d.Path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	took := time.Since(start)
	final := filepath.Join(d.Path, name)
	if err := os.Rename(f.Name(), final); err != nil {
		return Object{}, fmt.Errorf("write %s to %s: %w", name, d.Path, err)
	}
	if err := os.WriteFile(final+sumSuffix, []byte(fmt.Sprintf("%s  %s  %s\n", sum, name, took.Round(time.Millisecond))), 0o600); err != nil {
		_ = os.Remove(final)
		return Object{}, fmt.Errorf("write %s's checksum to %s: %w", name, d.Path, err)
	}
	return Object{Name: name, Size: cw.n, Time: time.Now().UTC(), SHA256: sum, Took: took}, nil
}

// removeStale removes temporary files of Puts a crash interrupted an hour or more ago.
func (d Dir) removeStale() {
	old, _ := filepath.Glob(filepath.Join(d.Path, ".partial-*"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
			_ = os.Remove(p)
		}
	}
}

// List reads the archives that have their checksum (an archive without one was never
// finished); their time is the archive's modification time.
func (d Dir) List(_ context.Context, prefix string) ([]Object, error) {
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Path, err)
	}
	var out []Object
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || strings.HasSuffix(name, sumSuffix) || strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		side, err := os.ReadFile(filepath.Join(d.Path, name+sumSuffix))
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		o := parseSum(string(side))
		o.Name, o.Size, o.Time = name, info.Size(), info.ModTime().UTC()
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Object) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func (d Dir) Open(_ context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.Path, name))
	if err != nil {
		return nil, fmt.Errorf("open backup %s: %w", name, err)
	}
	return f, nil
}

func (d Dir) Remove(_ context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(d.Path, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove backup %s: %w", name, err)
	}
	_ = os.Remove(filepath.Join(d.Path, name+sumSuffix))
	return nil
}

// checkName refuses names that are not one path element of ours.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("backup name %q: want a file name without a slash or a leading dot", name)
	}
	return nil
}

// counter counts what goes through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// parseSum reads a checksum sidecar: "SHA256  NAME  TOOK".
func parseSum(side string) Object {
	var o Object
	fields := strings.Fields(side)
	if len(fields) > 0 {
		o.SHA256 = fields[0]
	}
	if len(fields) > 2 {
		o.Took, _ = time.ParseDuration(fields[2])
	}
	return o
}

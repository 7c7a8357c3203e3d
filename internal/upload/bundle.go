// Package upload carries a deploy's files from the client to the server: the bundle a client packs (a Go module's source, a prebuilt binary, the spec's rule and config files) under one content digest, and the server's store of unpacked uploads.
package upload

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Limits of one upload, on the client and on the server.
const (
	MaxSize  = 256 << 20 // bytes of all files
	MaxFiles = 50000
)

// File is one file of a bundle, named by its absolute, slash-separated path on the client.
type File struct {
	Path string
	Mode os.FileMode // 0644, or 0755 for an executable
	Size int64
	Sum  [sha256.Size]byte
}

// Bundle is the set of files a deploy needs, and its digest.
type Bundle struct {
	Files []File
	// Digest is the hex SHA-256 of the bundle's manifest: each file's path, mode, size
	// and content digest, in path order. The same files give the same digest.
	Digest string
	Size   int64
	// Commit and Describe are the client's git commit (with -dirty) and `git describe`
	// of the source, which the server's build cannot see.
	Commit, Describe string
}

var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CheckDigest refuses what is not a bundle's digest.
func CheckDigest(d string) error {
	if !digestRE.MatchString(d) {
		return fmt.Errorf("%q is not an upload digest (64 hex digits)", d)
	}
	return nil
}

// digest is the manifest's digest of files, sorted by path.
func digest(files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%x\n", f.Path, f.Mode, f.Size, f.Sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileMode is the mode a bundle keeps of a file's: executable or not.
func fileMode(m os.FileMode) os.FileMode {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// WriteTo writes the bundle as a gzipped tar stream, reading each file from the client's
// disk as it goes (never all of them in memory). A file that changed since it was
// collected is an error: the digest would not be the content's.
func (b *Bundle) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed) // the network is rarely slower than compression on a laptop
	tw := tar.NewWriter(zw)
	for _, f := range b.Files {
		if err := writeFile(tw, f); err != nil {
			return cw.n, err
		}
	}
	if err := tw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, zw.Close()
}

func writeFile(tw *tar.Writer, f File) error {
	r, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("upload %s: %w", f.Path, err)
	}
	defer r.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: int64(f.Mode), Size: f.Size}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(r, f.Size+1))
	if err != nil {
		return fmt.Errorf("upload %s: %w", f.Path, err)
	}
	if n != f.Size || string(h.Sum(nil)) != string(f.Sum[:]) {
		return fmt.Errorf("upload %s: the file changed while it was being uploaded; deploy again", f.Path)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// sortFiles orders files by path and drops repeats.
func sortFiles(files []File) []File {
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return slices.CompactFunc(files, func(a, b File) bool { return a.Path == b.Path })
}

// cleanPath is a bundle's name of a client path: absolute, slash-separated, clean.
func cleanPath(p string) string { return path.Clean("/" + strings.TrimPrefix(p, "/")) }

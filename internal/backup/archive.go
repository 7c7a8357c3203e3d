// Package backup keeps copies that restore: tend's own state and the apps' databases and files, archived with checksums, on schedules, and verified by restoring them.
package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ManifestName is the archive's last member: what the archive holds, with checksums.
const ManifestName = "manifest.json"

// ManifestFormat is the version of the manifest this tend writes and reads.
const ManifestFormat = 1

// Manifest says what an archive of tend's state holds. It is the archive's last member,
// so that an archive cut short (a disk that filled, a stream that broke) has none and is
// refused whole.
type Manifest struct {
	Format      int       `json:"format"`
	Kind        string    `json:"kind"` // "tend-state"
	TendVersion string    `json:"tendVersion"`
	CreatedAt   time.Time `json:"createdAt"`
	// Store is where the state was: "embedded", or the external etcd's endpoints.
	Store string `json:"store"`
	// Apps and Revisions count what the store held; IncludesKey says whether the
	// secrets key is in the archive (tend backup create --include-key).
	Apps        []string `json:"apps"`
	Revisions   int      `json:"revisions"`
	IncludesKey bool     `json:"includesKey"`
	Files       []File   `json:"files"`
}

// File is one member of an archive with its size and sha256.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// archiveWriter writes members to a tar stream compressed with zstd, counting their
// checksums for the manifest.
type archiveWriter struct {
	zw    *zstd.Encoder
	tw    *tar.Writer
	files []File
}

func newArchiveWriter(w io.Writer) (*archiveWriter, error) {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	return &archiveWriter{zw: zw, tw: tar.NewWriter(zw)}, nil
}

// add writes size bytes of r as member name.
func (a *archiveWriter) add(name string, mode os.FileMode, size int64, r io.Reader) error {
	hdr := &tar.Header{Name: name, Mode: int64(mode.Perm()), Size: size, ModTime: time.Now().UTC().Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(a.tw, io.TeeReader(io.LimitReader(r, size), h))
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("archive %s: %d bytes of %d (the file changed while it was read)", name, n, size)
	}
	a.files = append(a.files, File{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// addFile archives the file at p as member name.
func (a *archiveWriter) addFile(name, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	return a.add(name, st.Mode(), st.Size(), f)
}

// close writes the manifest (with the members' checksums) and ends the stream.
func (a *archiveWriter) close(m *Manifest) error {
	m.Files = a.files
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(b)), ModTime: m.CreatedAt.Truncate(time.Second), Typeflag: tar.TypeReg}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive the manifest: %w", err)
	}
	if _, err := a.tw.Write(b); err != nil {
		return fmt.Errorf("archive the manifest: %w", err)
	}
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("end the archive: %w", err)
	}
	return a.zw.Close()
}

// DamagedError is an archive that does not restore: cut short, altered, or not one of
// tend's. Nothing was written where it was to be restored.
type DamagedError struct {
	Archive string
	What    string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is not a whole tend backup: %s; nothing was restored (use another backup: tend backup list)", e.Archive, e.What)
}

// Check reads the whole archive r (named name in errors) and checks every member
// against its manifest, writing nothing.
func Check(r io.Reader, name string) (*Manifest, error) { return extract(r, name, "") }

// extract unpacks the archive r (named name in errors) into dir, which must exist and
// be empty, and checks every member against the manifest; with dir "", it only checks.
// On an error, dir may hold part of the archive: the caller removes it.
func extract(r io.Reader, name, dir string) (*Manifest, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, &DamagedError{name, err.Error()}
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	seen := map[string]File{}
	var m *Manifest
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &DamagedError{name, fmt.Sprintf("reading it failed after %d members: %v", len(seen), err)}
		}
		if m != nil {
			return nil, &DamagedError{name, fmt.Sprintf("member %s follows the manifest", hdr.Name)}
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, &DamagedError{name, fmt.Sprintf("member %s is not a regular file", hdr.Name)}
		}
		if hdr.Name == ManifestName {
			m = new(Manifest)
			if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(m); err != nil {
				return nil, &DamagedError{name, fmt.Sprintf("its manifest does not decode: %v", err)}
			}
			continue
		}
		clean := path.Clean(hdr.Name)
		if !filepath.IsLocal(clean) || clean != hdr.Name || strings.HasPrefix(clean, ".") {
			return nil, &DamagedError{name, fmt.Sprintf("member %q has a path outside the archive", hdr.Name)}
		}
		var f File
		if dir == "" {
			f, err = hashMember(tr)
		} else {
			f, err = writeMember(tr, filepath.Join(dir, filepath.FromSlash(clean)), os.FileMode(hdr.Mode).Perm())
		}
		if err != nil {
			var de *os.PathError // the disk's error; any other is the archive's
			if errors.As(err, &de) {
				return nil, fmt.Errorf("restore %s: %w", hdr.Name, err)
			}
			return nil, &DamagedError{name, fmt.Sprintf("member %s: %v", hdr.Name, err)}
		}
		f.Name = clean
		seen[clean] = f
	}
	if m == nil {
		return nil, &DamagedError{name, "it has no manifest (the archive was cut short)"}
	}
	if m.Format != ManifestFormat || m.Kind != "tend-state" {
		return nil, &DamagedError{name, fmt.Sprintf("its manifest is kind %q format %d; this tend reads tend-state format %d", m.Kind, m.Format, ManifestFormat)}
	}
	for _, want := range m.Files {
		got, ok := seen[want.Name]
		switch {
		case !ok:
			return nil, &DamagedError{name, fmt.Sprintf("member %s of its manifest is missing", want.Name)}
		case got.Size != want.Size || got.SHA256 != want.SHA256:
			return nil, &DamagedError{name, fmt.Sprintf("member %s has sha256 %s (%d bytes), its manifest says %s (%d bytes)", want.Name, got.SHA256, got.Size, want.SHA256, want.Size)}
		}
		delete(seen, want.Name)
	}
	for n := range seen {
		return nil, &DamagedError{name, fmt.Sprintf("member %s is not in its manifest", n)}
	}
	return m, nil
}

// writeMember writes r to a new file p (creating its directories) and says its size
// and sha256. Directories are 0711, as the builder makes the artifacts' (instances
// running as users of their own reach their executable through them); files keep
// their archived modes.
func writeMember(r io.Reader, p string, mode os.FileMode) (File, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o711); err != nil {
		return File{}, err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o200)
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(out, io.TeeReader(r, h))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, err
	}
	if err := os.Chmod(p, mode); err != nil {
		return File{}, err
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// hashMember reads r to its end and says its size and sha256.
func hashMember(r io.Reader) (File, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return File{}, err
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

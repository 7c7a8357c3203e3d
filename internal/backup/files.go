package backup

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Files archives a directory as tar compressed with zstd, streamed file by file.
type Files struct {
	Path string
	// Cred, when set, is whom the directory is read as: Dump runs Exe (tend) with
	// DumpCommand as that user instead of reading it itself.
	Cred *syscall.Credential
	Exe  string
}

// DumpCommand is the hidden tend command that writes a Files dump of a directory to
// its stdout: `tend DumpCommand PATH`.
const DumpCommand = "__backup-files-dump"

// Dump writes the directory's regular files, directories and symbolic links to w.
func (f Files) Dump(ctx context.Context, w io.Writer) error {
	if f.Cred != nil {
		return f.dumpAs(ctx, w)
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("files backup: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("files backup: %s is not a directory", f.Path)
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(f.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(f.Path, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices, pipes: not data
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		if n, err := io.Copy(tw, io.LimitReader(in, hdr.Size)); err != nil {
			return err
		} else if n != hdr.Size {
			return fmt.Errorf("%s shrank while it was archived (%d of %d bytes)", p, n, hdr.Size)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("files backup of %s: %w", f.Path, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// dumpAs runs the dump in a child process as f.Cred.
func (f Files) dumpAs(ctx context.Context, w io.Writer) error {
	cmd := exec.CommandContext(ctx, f.Exe, DumpCommand, f.Path)
	cmd.Stdout, cmd.Dir = w, "/"
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 8 << 10}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: f.Cred}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, fs.ErrPermission) && stderr.Len() == 0 {
			return fmt.Errorf("run %s as the app's user (uid %d) to read %s: %w: install tend where every user may run it, like /usr/local/bin", f.Exe, f.Cred.Uid, f.Path, err)
		}
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "tend: "))
		return fmt.Errorf("%s (read as the app's user, uid %d, as its instances would: make the directory readable to it)", cmp.Or(msg, err.Error()), f.Cred.Uid)
	}
	return nil
}

// Restore unpacks an archive Dump wrote into to ("": the backup's directory). It
// unpacks beside it first; the directory that was there is kept as
// PATH.before-restore-TIME, and only a whole archive takes its place.
func (f Files) Restore(ctx context.Context, r io.Reader, to string) (kept string, err error) {
	if to == "" {
		to = f.Path
	}
	to = filepath.Clean(to)
	staging, err := os.MkdirTemp(filepath.Dir(to), "."+filepath.Base(to)+".restoring-")
	if err != nil {
		return "", fmt.Errorf("restore into %s: %w", to, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(staging)
		}
	}()
	if err := unpack(ctx, r, staging); err != nil {
		return "", err
	}
	if _, err := os.Lstat(to); err == nil {
		kept = to + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(to, kept); err != nil {
			return "", fmt.Errorf("set %s aside: %w", to, err)
		}
	}
	if err := os.Rename(staging, to); err != nil {
		if kept != "" {
			_ = os.Rename(kept, to)
		}
		return "", fmt.Errorf("move the restored files into %s: %w", to, err)
	}
	return kept, nil
}

// unpack writes the archive's members in dir, through an os.Root: no member, nor a
// symbolic link of the archive, reaches outside it.
func unpack(ctx context.Context, r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the archive does not read: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("the archive has a path outside its directory: %q", hdr.Name)
		}
		p := filepath.FromSlash(name)
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(p, mode|0o700); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("restore %s: %w", hdr.Name, err)
			}
			_ = root.Chtimes(p, hdr.ModTime, hdr.ModTime)
		}
	}
}

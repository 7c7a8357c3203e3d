package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/tendhq/tend/internal/store"
)

// archiveOf writes an archive of a store with one app and one revision whose artifact
// is in dataDir, and returns it.
func archiveOf(t *testing.T, dataDir string) []byte {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	art := filepath.Join("artifacts", strings.Repeat("ab", 32), "hello")
	if err := os.MkdirAll(filepath.Join(dataDir, filepath.Dir(art)), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, art), bytes.Repeat([]byte("executable"), 1000), 0o555); err != nil {
		t.Fatal(err)
	}
	rec := store.AppRecord{}
	rec.Spec.App = "hello"
	if err := st.Put(ctx, store.AppKey("hello"), rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, store.RevisionKey("hello", 1), store.Revision{App: "hello", Number: 1, Path: art, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutLeased(ctx, store.ServiceKey("hello", "127.0.0.1:9"), store.Endpoint{Name: "hello", Address: "127.0.0.1", Port: 9}); err != nil {
		t.Fatal(err)
	}
	// a sealed secret (its bytes do not matter here): the archive has no key for it
	if err := st.Put(ctx, store.SecretKey("hello", "db-url", 1), map[string]string{"box": "sealed"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m, err := State{Store: st, DataDir: dataDir, StoreName: "embedded", Version: "test"}.Write(ctx, &buf, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Apps) != 1 || m.Revisions != 1 || len(m.Files) != 2 || m.Files[1].Name != filepath.ToSlash(art) {
		t.Fatalf("manifest: %+v", m)
	}
	return buf.Bytes()
}

func TestAStateArchiveRestoresWithoutTheOldServersInstances(t *testing.T) {
	b := archiveOf(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "new")
	res, err := RestoreState(context.Background(), bytes.NewReader(b), "a.tar.zst", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.KeyMissing || res.KeyFile != filepath.Join(dir, "secrets.key") || res.Manifest.IncludesKey || res.Manifest.Apps[0] != "hello" {
		t.Fatalf("restored: %+v", res)
	}
	if st, err := os.Stat(filepath.Join(dir, "artifacts", strings.Repeat("ab", 32), "hello")); err != nil || st.Mode().Perm() != 0o555 || st.Size() != 10000 {
		t.Fatalf("the artifact after the restore: %v %v", st, err)
	}
	st, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rev store.Revision
	if err := st.Get(context.Background(), store.RevisionKey("hello", 1), &rev); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Count(context.Background(), store.ServicesPrefix); err != nil || n != 0 {
		t.Fatalf("registry entries of the old server after the restore: %d %v, want none", n, err)
	}
	if _, err := RestoreState(context.Background(), bytes.NewReader(b), "a.tar.zst", dir); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("a restore over a data dir: %v, want refused", err)
	}
}

func TestADamagedArchiveRestoresNothing(t *testing.T) {
	b := archiveOf(t, t.TempDir())
	// the artifact's bytes changed, and the zstd frame's checksum fixed up: only the
	// manifest's sha256 can tell
	altered := alterMember(t, b, "artifacts/", []byte("EXECUTABLE"))
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"cut":     {b[:len(b)/2], "not a whole tend backup"},
		"altered": {altered, "manifest says"},
		"empty":   {nil, "not a whole tend backup"},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "new")
			_, err := RestoreState(context.Background(), bytes.NewReader(c.b), "a.tar.zst", dir)
			var damaged *DamagedError
			if !errors.As(err, &damaged) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore: %v, want a DamagedError saying %q", err, c.want)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Fatalf("a failed restore left %v behind", left)
			}
			if _, err := Check(bytes.NewReader(c.b), "a.tar.zst"); err == nil {
				t.Fatal("Check passed a damaged archive")
			}
		})
	}
	if _, err := Check(bytes.NewReader(b), "a.tar.zst"); err != nil {
		t.Fatalf("Check of a whole archive: %v", err)
	}
}

// alterMember rewrites archive b with the first member whose name starts with prefix
// holding repl at its start, keeping the manifest.
func alterMember(t *testing.T, b []byte, prefix string, repl []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	zr, tr := readerOf(t, b)
	defer zr.Close()
	var out bytes.Buffer
	aw, err := newArchiveWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if !done && strings.HasPrefix(hdr.Name, prefix) {
			copy(body, repl)
			done = true
		}
		p := filepath.Join(dir, "member")
		_ = os.WriteFile(p, body, 0o600)
		if err := aw.addFile(hdr.Name, p); err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
	}
	// the manifest went in as a plain member: end the stream without another
	if err := aw.tw.Close(); err != nil {
		t.Fatal(err)
	}
	aw.zw.Close()
	return out.Bytes()
}

func readerOf(t *testing.T, b []byte) (*zstd.Decoder, *tar.Reader) {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return zr, tar.NewReader(zr)
}

// With --include-key, the secrets key is archived and restored, 0600.
func TestTheSecretsKeyIsArchivedOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, store.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := filepath.Join(data, "secrets.key")
	if err := os.WriteFile(key, []byte("tend-secrets-key-1:c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, include := range []bool{false, true} {
		var buf bytes.Buffer
		m, err := State{Store: st, DataDir: data, KeyFile: key, Version: "test"}.Write(ctx, &buf, t.TempDir(), include)
		if err != nil {
			t.Fatal(err)
		}
		if m.IncludesKey != include {
			t.Fatalf("include %v: the manifest says %v", include, m.IncludesKey)
		}
		dir := filepath.Join(t.TempDir(), "new")
		if _, err := RestoreState(ctx, &buf, "a.tar.zst", dir); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "secrets.key"))
		switch {
		case include && (err != nil || fi.Mode().Perm() != 0o600):
			t.Fatalf("the restored key: %v %v", fi, err)
		case !include && err == nil:
			t.Fatal("the key was restored without --include-key")
		}
	}
}

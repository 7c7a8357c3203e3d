package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/tendhq/tend/internal/spec"
)

// A files backup, encrypted with age, kept in a local directory: it runs through the
// scheduler, restores the directory (keeping what was there), and refuses an archive
// whose bytes changed.
func TestAnEncryptedFilesBackupRestoresTheDirectory(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "uploads")
	for i := range 50 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte(fmt.Sprint(i)), 1000+i), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("d0/f0.txt", filepath.Join(src, "latest")); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	target := Dir{Path: t.TempDir()}
	ab := AppBackup{App: "shop", Target: target, FilesPath: src, TmpDir: t.TempDir(),
		Spec: spec.Backup{Name: "uploads", Files: &spec.FilesBackup{Path: src}, Schedule: "@daily", Retain: spec.BackupRetain{Last: 2},
			Encrypt: &spec.BackupEncrypt{Age: []string{id.Recipient().String()}, IdentitySecret: "age-key"}},
		Secrets: func(_ context.Context, app string, names []string) (map[string]string, error) {
			return map[string]string{"age-key": id.String()}, nil
		}}
	j, err := ab.Job()
	if err != nil {
		t.Fatal(err)
	}
	s := NewScheduler(nil, nil, nil)
	s.Set(ctx, j)
	o, err := s.RunNow(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(o.Name, "shop-uploads-") || !strings.HasSuffix(o.Name, ".tar.zst.age") {
		t.Fatalf("archive name %q", o.Name)
	}
	raw, err := os.ReadFile(filepath.Join(target.Path, o.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) || bytes.Contains(raw, []byte("4242424242")) {
		t.Fatal("the archive is not age-encrypted")
	}

	if err := os.WriteFile(filepath.Join(src, "d0", "f0.txt"), []byte("changed after the backup"), 0o640); err != nil {
		t.Fatal(err)
	}
	res, err := ab.Restore(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Archive != o.Name || res.Kept == "" {
		t.Fatalf("restored: %+v", res)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "d0", "f0.txt")); string(b) != strings.Repeat("0", 1000) {
		t.Fatalf("f0.txt after the restore: %q", b[:min(len(b), 40)])
	}
	if b, _ := os.ReadFile(filepath.Join(res.Kept, "d0", "f0.txt")); string(b) != "changed after the backup" {
		t.Fatalf("the directory set aside: %q", b)
	}
	if l, err := os.Readlink(filepath.Join(src, "latest")); err != nil || l != "d0/f0.txt" {
		t.Fatalf("the symbolic link after the restore: %q %v", l, err)
	}
	if st, _ := os.Stat(filepath.Join(src, "d4", "f49.txt")); st == nil || st.Mode().Perm() != 0o640 || st.Size() != 2*1049 {
		t.Fatalf("f49.txt after the restore: %v", st)
	}

	// one byte changed: the sha256 recorded at the backup refuses it before anything
	raw[len(raw)/2] ^= 1
	if err := os.WriteFile(filepath.Join(target.Path, o.Name), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(filepath.Dir(src))
	if _, err := ab.Restore(ctx, o.Name, ""); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("restore of an altered archive: %v", err)
	}
	if after, _ := os.ReadDir(filepath.Dir(src)); len(after) != len(before) {
		t.Fatalf("a refused restore changed %s: %d entries, then %d", filepath.Dir(src), len(before), len(after))
	}
}

// A failed backup leaves no archive behind, and the job's status says why.
func TestAFailedBackupLeavesNoArchive(t *testing.T) {
	target := Dir{Path: t.TempDir()}
	s := NewScheduler(nil, nil, nil)
	j := Job{App: "shop", Name: "db", Target: target, Prefix: "shop-db-", Ext: ".pgdump", Write: func(_ context.Context, w io.Writer) error {
		if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
			return err
		}
		return fmt.Errorf("pg_dump: connection lost")
	}}
	s.Set(context.Background(), j)
	if _, err := s.RunNow(context.Background(), j); err == nil {
		t.Fatal("a failed write made an archive")
	}
	if left, _ := os.ReadDir(target.Path); len(left) != 0 {
		t.Fatalf("a failed backup left %v", left)
	}
	if st := s.Status("shop"); len(st) != 1 || !strings.Contains(st[0].LastError, "connection lost") {
		t.Fatalf("status: %+v", st)
	}
}

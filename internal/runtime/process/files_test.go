package process

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tendhq/tend/internal/runtime"
)

// A link the instance left in its working dir cannot make tend write outside it.
func TestFilesAreWrittenInsideTheWorkingDirOnly(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "config")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "token"), filepath.Join(dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	files := []runtime.File{{Path: "config/production.yaml", Content: "pool: 10\n"}}
	if err := writeFiles(dir, nil, files, nil); err == nil {
		t.Error("a file was written through a link to a dir outside")
	}
	secret := []runtime.File{{Path: "key.pem", Secret: &runtime.SecretRef{Name: "tls-key", Version: 1}}}
	if err := writeFiles(dir, nil, secret, map[string][]byte{"tls-key": []byte("k")}); err != nil {
		t.Fatalf("a link at the file's own path is replaced: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the working dir: %v", entries)
	}
	fi, err := os.Lstat(filepath.Join(dir, "key.pem"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o400 {
		t.Errorf("key.pem: %v %v, want a regular file 0400", fi, err)
	}
}

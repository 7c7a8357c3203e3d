package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// healthyDataDir is a data dir whose store was opened, written to and closed.
func healthyDataDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if err := s.Put(ctx, fmt.Sprintf("/tend/test/%03d", i), map[string]string{"value": strings.Repeat("x", 200)}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	return dir
}

func walFile(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "etcd", "member", "wal", "*.wal"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no WAL file in %s: %v", dir, err)
	}
	return files[len(files)-1]
}

// A damaged store fails Open at once with a DamagedError naming the damaged file and the
// way out, instead of hanging in etcd's start-up or panicking in it.
func TestADamagedStoreFailsAtOnceAndSaysWhatToDo(t *testing.T) {
	damages := []struct {
		name   string
		damage func(t *testing.T, dir string)
		file   string // what the error names, relative to DATA/etcd/member
	}{
		{"WAL directory missing", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "etcd", "member", "wal")); err != nil {
				t.Fatal(err)
			}
		}, "wal"},
		{"WAL truncated to 0 bytes", func(t *testing.T, dir string) {
			if err := os.Truncate(walFile(t, dir), 0); err != nil {
				t.Fatal(err)
			}
		}, "wal/"},
		{"WAL truncated mid-record", func(t *testing.T, dir string) {
			f := walFile(t, dir)
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			// the records end well before the preallocated 64 MB: cut into them
			b, _ := os.ReadFile(f)
			end := len(b)
			for end > 0 && b[end-1] == 0 {
				end--
			}
			if err := os.Truncate(f, int64(end/2)); err != nil || st.Size() == 0 {
				t.Fatal(err)
			}
		}, ""},
		{"WAL record garbled", func(t *testing.T, dir string) {
			f := walFile(t, dir)
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i := 20000; i < 20064 && i < len(b); i++ {
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "wal"},
		{"database meta pages overwritten", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "etcd", "member", "snap", "db"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 16<<10), 0); err != nil {
				t.Fatal(err)
			}
		}, "snap/db"},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := healthyDataDir(t)
			d.damage(t, dir)
			done := make(chan error, 1)
			go func() {
				s, err := Open(context.Background(), Options{DataDir: dir})
				if err == nil {
					s.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("Open on a damaged store did not return")
			}
			var de *DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("Open: %v, want a DamagedError", err)
			}
			want := filepath.Join(dir, "etcd", "member", d.file)
			if !strings.HasPrefix(de.File, strings.TrimSuffix(want, "/")) || !strings.Contains(err.Error(), "move it aside") || !strings.Contains(err.Error(), "restore") {
				t.Errorf("the error names %q (want under %s) and says: %v", de.File, want, err)
			}
			t.Logf("%v", err)
		})
	}
}

package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestASnapshotRestoresIntoANewDataDir(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, RevisionKey("hello", 1), Revision{App: "hello", Number: 1, Artifact: "sha256:abc"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "etcd.db")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Snapshot(ctx, f)
	f.Close()
	s.Close()
	if err != nil || n == 0 {
		t.Fatalf("snapshot: %d bytes, %v", n, err)
	}

	dir := filepath.Join(t.TempDir(), "new")
	if err := RestoreSnapshot(file, dir, ""); err != nil {
		t.Fatal(err)
	}
	if err := RestoreSnapshot(file, dir, ""); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("a second restore into the same dir: %v, want refused", err)
	}
	s, err = Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got Revision
	if err := s.Get(ctx, RevisionKey("hello", 1), &got); err != nil || got.Artifact != "sha256:abc" {
		t.Fatalf("after restore: %+v %v", got, err)
	}
	if err := s.Put(ctx, RevisionKey("hello", 2), Revision{App: "hello", Number: 2}); err != nil {
		t.Fatalf("write after restore: %v", err)
	}
}

func TestADamagedSnapshotIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "etcd.db")
	if err := os.WriteFile(file, []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "new")
	if err := RestoreSnapshot(file, dir, ""); err == nil {
		t.Fatal("a damaged snapshot restored")
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s behind (%v)", filepath.Join(dir, "etcd"), err)
	}
}

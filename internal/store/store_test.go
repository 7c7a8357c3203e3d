package store

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEmbeddedStoreKeepsStateAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rev := Revision{App: "hello", Number: 1, Artifact: "sha256:abc"}
	if err := s.Put(ctx, RevisionKey("hello", 1), rev); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, RevisionKey("hello", 2), Revision{App: "hello", Number: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, RevisionKey("hello2", 1), Revision{App: "hello2", Number: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got Revision
	if err := s.Get(ctx, RevisionKey("hello", 1), &got); err != nil || got.Artifact != "sha256:abc" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	revs, err := List[Revision](ctx, s, RevisionsPrefix("hello"))
	if err != nil || len(revs) != 2 || revs[0].Number != 1 || revs[1].Number != 2 {
		t.Fatalf("list hello's revisions: %+v %v, want 1 and 2 only", revs, err)
	}
	if err := s.Get(ctx, RevisionKey("hello", 9), &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v, want ErrNotFound", err)
	}
}

func TestLeasedKeysGoWithTheLease(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ep := Endpoint{Name: "hello", Address: "127.0.0.1", Port: 9000, Metadata: map[string]string{"revision": "1"}}
	key := ServiceKey("hello", ep.HostPort())
	if err := s.PutLeased(ctx, key, ep); err != nil {
		t.Fatal(err)
	}
	r, err := s.etcdc.Get(ctx, key)
	if err != nil || len(r.Kvs) != 1 || r.Kvs[0].Lease != int64(s.lease) {
		t.Fatalf("registry key %v not under the server's lease: %v", r, err)
	}
	if err := s.RevokeLease(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, key, &ep); !errors.Is(err, ErrNotFound) {
		t.Fatalf("registry key after revoking the lease: %v, want gone", err)
	}
}

func TestSecondServerOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(context.Background(), Options{DataDir: dir}); err == nil {
		t.Fatal("a second embedded etcd started on a data dir in use")
	}
}

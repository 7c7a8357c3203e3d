package store

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// Snapshot writes a consistent copy of the whole store to w: etcd's snapshot, of the
// embedded etcd or of the external cluster's member the client talks to, through
// etcd's maintenance API. It says how many bytes it wrote.
func (s *Store) Snapshot(ctx context.Context, w io.Writer) (int64, error) {
	rc, err := s.etcdc.Snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("etcd snapshot: %w", err)
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err != nil {
		return n, fmt.Errorf("etcd snapshot: %w", err)
	}
	return n, nil
}

// RestoreSnapshot makes the embedded etcd of dataDir (a data dir that has none yet)
// from a file Snapshot wrote, as a new one-member cluster with the peer address Open
// gives it: the server started on dataDir then opens the snapshot's state. etcdDir is
// where the etcd directory is written ("": dataDir/etcd); a restore that stages its
// work elsewhere and renames it into dataDir passes it.
func RestoreSnapshot(file, dataDir, etcdDir string) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if etcdDir == "" {
		etcdDir = filepath.Join(dataDir, "etcd")
	}
	if _, err := os.Stat(etcdDir); err == nil {
		return fmt.Errorf("restore the store into %s: it exists already (restore into a new data dir)", etcdDir)
	}
	peer := url.URL{Scheme: "unix", Path: filepath.Join(dataDir, "etcd", "peer.sock")}
	err = snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath: file, Name: "tend", OutputDataDir: etcdDir,
		PeerURLs: []string{peer.String()}, InitialCluster: "tend=" + peer.String(), InitialClusterToken: "etcd-cluster",
	})
	if err != nil {
		_ = os.RemoveAll(etcdDir)
		return fmt.Errorf("restore the store from %s: %w", file, err)
	}
	return os.Chmod(etcdDir, 0o700)
}

// DropLeases revokes every lease but this server's, and with them every key on them:
// on a store restored from a snapshot, the registry entries of the instances of the
// server that wrote it, which do not run here.
func (s *Store) DropLeases(ctx context.Context) (int, error) {
	r, err := s.etcdc.Leases(ctx)
	if err != nil {
		return 0, fmt.Errorf("list leases: %w", err)
	}
	n := 0
	for _, l := range r.Leases {
		if l.ID == s.lease {
			continue
		}
		if _, err := s.etcdc.Revoke(ctx, l.ID); err != nil {
			return n, fmt.Errorf("revoke lease %x: %w", l.ID, err)
		}
		n++
	}
	return n, nil
}

// Count is how many keys there are under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	r, err := s.etcdc.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", prefix, err)
	}
	return r.Count, nil
}

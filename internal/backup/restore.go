package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// StateRestored says what RestoreState brought back.
type StateRestored struct {
	Manifest *Manifest
	DataDir  string
	// KeyMissing: the archive has no secrets key and secrets were set; the server
	// needs the key (KeyFile) to start instances that use them.
	KeyMissing bool
	KeyFile    string
	Took       time.Duration
}

// RestoreState makes dataDir (new, or an empty directory) a tend data dir from the
// archive r (named name in errors): the store as the snapshot had it, without the old
// server's instances (the server started on it starts every app's current revision
// from the restored artifacts), the data dir's files and the Alertmanager's state.
// The archive is unpacked and checked beside dataDir first: a damaged archive leaves
// nothing behind.
func RestoreState(ctx context.Context, r io.Reader, name, dataDir string) (*StateRestored, error) {
	start := time.Now()
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	switch entries, err := os.ReadDir(dataDir); {
	case err == nil && len(entries) > 0:
		return nil, fmt.Errorf("%s is not empty: restore into a new data dir (tend backup restore FILE --data NEWDIR)", dataDir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return nil, fmt.Errorf("restore into %s: %w", dataDir, err)
	}
	staging, err := os.MkdirTemp(filepath.Dir(dataDir), "."+filepath.Base(dataDir)+".restoring-")
	if err != nil {
		return nil, fmt.Errorf("stage the restore beside %s: %w", dataDir, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(staging)
		}
	}()
	m, err := extract(r, name, staging)
	if err != nil {
		return nil, err
	}
	snap := filepath.Join(staging, memberStore)
	if err := store.RestoreSnapshot(snap, dataDir, filepath.Join(staging, "etcd")); err != nil {
		return nil, &DamagedError{name, err.Error()}
	}
	if err := os.Remove(snap); err != nil {
		return nil, err
	}
	if err := os.Chmod(staging, 0o700); err != nil {
		return nil, err
	}
	_ = os.Remove(dataDir) // empty, or not there
	if err := os.Rename(staging, dataDir); err != nil {
		return nil, fmt.Errorf("move the restored state into %s: %w", dataDir, err)
	}
	done = true
	secrets, err := settle(ctx, dataDir)
	if err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, err
	}
	return &StateRestored{Manifest: m, DataDir: dataDir, KeyMissing: secrets && !m.IncludesKey,
		KeyFile: filepath.Join(dataDir, memberSecretsKey), Took: time.Since(start)}, nil
}

// settle removes the old server's instances from the restored store (their records and
// their registry entries, on its lease) and says whether it holds sealed secrets.
func settle(ctx context.Context, dataDir string) (secrets bool, err error) {
	st, err := store.Open(ctx, store.Options{DataDir: dataDir})
	if err != nil {
		return false, fmt.Errorf("open the restored store: %w", err)
	}
	defer st.Close()
	if _, err := st.DropLeases(ctx); err != nil {
		return false, fmt.Errorf("drop the old server's registry entries: %w", err)
	}
	if _, err := st.DeletePrefix(ctx, store.InstancesPrefix); err != nil {
		return false, fmt.Errorf("drop the old server's instance records: %w", err)
	}
	n, err := st.Count(ctx, store.SecretsPrefix)
	if err != nil {
		return false, err
	}
	return n > 0, st.RevokeLease(ctx)
}

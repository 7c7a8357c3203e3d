package backup

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/store"
)

// State is what an archive of tend's state is made from: the store, the data dir's
// files that the store refers to, and the embedded Alertmanager's state.
type State struct {
	Store   *store.Store
	DataDir string
	// StoreName is where the store is ("embedded", or the external etcd's endpoints).
	StoreName string
	// Alerting writes the embedded Alertmanager's silences and notification log (nil:
	// an external Alertmanager keeps them).
	Alerting Alerting
	// KeyFile is the secrets key, archived only when asked.
	KeyFile string
	Version string
}

// Alerting is the embedded Alertmanager's state, as snapshots in its own file format.
type Alerting interface {
	SnapshotSilences(w io.Writer) error
	SnapshotNotificationLog(w io.Writer) error
}

// Members of an archive of tend's state besides the data dir's files.
const (
	memberStore      = "etcd.db"
	memberSilences   = "alerting/alertmanager/silences"
	memberNotifyLog  = "alerting/alertmanager/nflog"
	memberSecretsKey = "secrets.key"
)

// Write archives the state to w: an etcd snapshot, the artifacts of every recorded
// revision (those a rollback may go to), the uploads they were built from, what
// incidents' runbooks captured, the Alertmanager's silences and notification log, and
// with includeKey the secrets key; the manifest, with every member's sha256, comes
// last. Staging files go in tmpDir.
func (s State) Write(ctx context.Context, w io.Writer, tmpDir string, includeKey bool) (*Manifest, error) {
	m := &Manifest{Format: ManifestFormat, Kind: "tend-state", TendVersion: s.Version, CreatedAt: time.Now().UTC(), Store: s.StoreName}
	// the snapshot first: it is the moment the archive stands for, and what the data
	// dir's files are chosen by
	snap, err := os.CreateTemp(tmpDir, ".etcd-snapshot-*")
	if err != nil {
		return nil, fmt.Errorf("stage the store's snapshot: %w", err)
	}
	defer os.Remove(snap.Name())
	defer snap.Close()
	if _, err := s.Store.Snapshot(ctx, snap); err != nil {
		return nil, err
	}
	revs, err := store.List[store.Revision](ctx, s.Store, store.RevisionsRoot)
	if err != nil {
		return nil, err
	}
	apps, err := store.List[store.AppRecord](ctx, s.Store, store.AppsPrefix)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		m.Apps = append(m.Apps, a.Spec.App)
	}
	m.Revisions = len(revs)

	aw, err := newArchiveWriter(w)
	if err != nil {
		return nil, err
	}
	if err := aw.addFile(memberStore, snap.Name()); err != nil {
		return nil, err
	}
	for _, name := range s.dataFiles(revs) {
		if err := aw.addFile(name, filepath.Join(s.DataDir, filepath.FromSlash(name))); err != nil {
			return nil, err
		}
	}
	if s.Alerting != nil {
		for _, a := range []struct {
			name string
			snap func(io.Writer) error
		}{{memberSilences, s.Alerting.SnapshotSilences}, {memberNotifyLog, s.Alerting.SnapshotNotificationLog}} {
			if err := s.addSnapshot(aw, tmpDir, a.name, a.snap); err != nil {
				return nil, err
			}
		}
	}
	if includeKey && s.KeyFile != "" {
		switch _, err := os.Stat(s.KeyFile); {
		case err == nil:
			if err := aw.addFile(memberSecretsKey, s.KeyFile); err != nil {
				return nil, err
			}
			m.IncludesKey = true
		case !os.IsNotExist(err): // no key: no secret was ever set
			return nil, fmt.Errorf("read the secrets key: %w", err)
		}
	}
	if err := aw.close(m); err != nil {
		return nil, err
	}
	return m, nil
}

// addSnapshot archives what snap writes, staged in a file for its size.
func (s State) addSnapshot(aw *archiveWriter, tmpDir, name string, snap func(io.Writer) error) error {
	f, err := os.CreateTemp(tmpDir, ".snapshot-*")
	if err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := snap(f); err != nil {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	return aw.addFile(name, f.Name())
}

// dataFiles are the data dir's files the revisions need, as archive members (slash
// paths relative to the data dir), sorted: artifacts, uploads and incidents' captures.
func (s State) dataFiles(revs []store.Revision) []string {
	set := map[string]bool{}
	for _, r := range revs {
		if rel, ok := s.inDataDir(r.Path); ok {
			set[rel] = true
		}
		if r.Spec.Root != "" {
			if rel, ok := s.inDataDir(r.Spec.Root); ok {
				s.walk(rel, set)
			}
		}
	}
	s.walk("incidents", set)
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// walk adds every regular file under the data dir's directory rel to set.
func (s State) walk(rel string, set map[string]bool) {
	root := filepath.Join(s.DataDir, filepath.FromSlash(rel))
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if r, err := filepath.Rel(s.DataDir, p); err == nil {
			set[filepath.ToSlash(r)] = true
		}
		return nil
	})
}

// inDataDir is p (absolute, or relative to the data dir) as a slash path relative to
// the data dir, when it is in it and exists.
func (s State) inDataDir(p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(s.DataDir, p)
		if err != nil || !filepath.IsLocal(r) {
			return "", false
		}
		p = r
	}
	if !filepath.IsLocal(p) || strings.HasPrefix(p, ".") {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, p)); err != nil {
		return "", false
	}
	return filepath.ToSlash(p), true
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.uber.org/zap"
)

// DamagedError is an embedded store that cannot start because a file of it is damaged.
// It names the file and the way out; tend server exits with it rather than hang or
// panic in etcd's start-up.
type DamagedError struct {
	File string // the damaged file or directory
	What string // what is wrong with it
	Dir  string // the store's directory (DATA/etcd)
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the store is damaged: %s %s. tend cannot start on it. Either restore the data dir from a backup of tend's state "+
		"(tend backup restore %s/tend-state-TIME.tar.zst --data NEWDIR, then tend server --data NEWDIR), "+
		"or move it aside (mv %s %s.damaged) and start again with an empty store: the running instances keep serving, "+
		"and every app must then be deployed again (tend deploy)", e.File, e.What, filepath.Join(filepath.Dir(e.Dir), "backups"), e.Dir, e.Dir)
}

// checkDamage looks for the damage that makes etcd hang or panic at start-up: a missing
// or empty write-ahead log beside a database, a WAL that does not read back, and a
// database whose header bbolt refuses. A fresh directory passes.
func checkDamage(dir string) error {
	member := filepath.Join(dir, "member")
	walDir, db := filepath.Join(member, "wal"), filepath.Join(member, "snap", "db")
	_, dbErr := os.Stat(db)
	names, walErr := walFiles(walDir)
	switch {
	case errors.Is(dbErr, os.ErrNotExist) && (errors.Is(walErr, os.ErrNotExist) || len(names) == 0):
		return nil // nothing written yet: a fresh store
	case errors.Is(walErr, os.ErrNotExist):
		return &DamagedError{File: walDir, What: "is missing (its database is there)", Dir: dir}
	case walErr != nil:
		return &DamagedError{File: walDir, What: "cannot be read: " + walErr.Error(), Dir: dir}
	case len(names) == 0:
		return &DamagedError{File: walDir, What: "has no log file (its database is there)", Dir: dir}
	}
	for _, n := range names {
		st, err := os.Stat(filepath.Join(walDir, n))
		if err != nil {
			return &DamagedError{File: filepath.Join(walDir, n), What: "cannot be read: " + err.Error(), Dir: dir}
		}
		if st.Size() == 0 {
			return &DamagedError{File: filepath.Join(walDir, n), What: "is empty", Dir: dir}
		}
	}
	last, err := readWAL(walDir)
	if err != nil {
		return &DamagedError{File: walDir, What: "does not read back: " + err.Error(), Dir: dir}
	}
	if dbErr != nil {
		return nil
	}
	applied, err := checkDB(db)
	if err != nil {
		return &DamagedError{File: db, What: "is not a readable database: " + err.Error(), Dir: dir}
	}
	if applied > last {
		// etcd waits for entries the log no longer has: it would hang at start-up
		return &DamagedError{File: walDir, What: fmt.Sprintf("was cut short: it ends at entry %d, and the database has applied entries up to %d", last, applied), Dir: dir}
	}
	return nil
}

// readWAL reads every record of the WAL from its last snapshot on, checking their CRCs,
// and returns the index of the last entry (a torn last record, which etcd repairs, is
// left out).
func readWAL(walDir string) (last uint64, err error) {
	defer func() {
		if r := recover(); r != nil { // etcd's decoder panics on some garbage
			err = fmt.Errorf("%v", r)
		}
	}()
	lg := zap.NewNop()
	snaps, err := wal.ValidSnapshotEntries(lg, walDir)
	if err != nil {
		return 0, err
	}
	snap := &walpb.Snapshot{}
	if len(snaps) > 0 {
		snap = snaps[len(snaps)-1]
	}
	w, err := wal.OpenForRead(lg, walDir, snap)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	_, _, ents, err := w.ReadAll()
	if err != nil {
		return 0, err
	}
	last = snap.GetIndex()
	if len(ents) > 0 {
		last = ents[len(ents)-1].GetIndex()
	}
	return last, nil
}

func walFiles(walDir string) ([]string, error) {
	entries, err := os.ReadDir(walDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wal") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// checkDB opens the database read-only, reads its buckets and returns the index of the
// last log entry it applied (etcd's consistent index), turning bbolt's panic on a broken
// header into an error.
func checkDB(path string) (applied uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { return nil }); err != nil {
			return err
		}
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			if v := meta.Get([]byte("consistent_index")); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return applied, err
}

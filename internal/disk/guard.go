// Package disk keeps a reserve of space on the data dir's filesystem so that tend's store can still write when the disk fills up, and refuses new deploys until space is freed.
package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrFull means the data dir's filesystem is (almost) full.
var ErrFull = errors.New("the data dir's filesystem is full")

// Defaults: the reserve covers a new etcd WAL segment (64 MiB) and the low-water mark is
// when the reserve is given up.
const (
	DefaultReserve  = 64 << 20
	DefaultLowWater = 16 << 20
)

// Guard watches the free space of one directory's filesystem. While space is plentiful it
// holds a reserve file there; when free space drops below the low-water mark it deletes
// the reserve, so that the store's writes (rollout state, instance records, events) keep
// succeeding, and reports the filesystem full until there is room for the reserve again.
type Guard struct {
	dir      string
	reserve  string
	size     int64
	lowWater uint64
	log      *slog.Logger

	mu   sync.Mutex
	full bool
	free uint64
}

// New returns a guard for dir with the default sizes; it does not touch the disk until Check.
func New(dir string, log *slog.Logger) *Guard {
	return &Guard{dir: dir, reserve: filepath.Join(dir, "space-reserve"), size: DefaultReserve, lowWater: DefaultLowWater, log: log}
}

// Check measures free space, gives up or re-creates the reserve, and returns an error
// wrapping ErrFull while the filesystem is full.
func (g *Guard) Check() error {
	free, err := freeBytes(g.dir)
	if err != nil {
		return nil // cannot tell: do not refuse work for it
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, statErr := os.Stat(g.reserve)
	held := statErr == nil
	changed := false // the reserve was released or taken: measure again
	switch {
	case held && free < g.lowWater:
		changed = true
		if err := os.Remove(g.reserve); err != nil {
			g.log.Error("data dir filesystem is full and the space reserve cannot be released", "dir", g.dir, "err", err)
		} else {
			g.log.Error("data dir filesystem is full: released the space reserve for tend's own state; deploys are refused until space is freed",
				"dir", g.dir, "free", free, "reserve", g.size)
		}
		g.full = true
	case !held && free >= uint64(g.size)+g.lowWater:
		if err := allocate(g.reserve, g.size); err != nil {
			g.log.Warn("cannot create the space reserve in the data dir", "path", g.reserve, "err", err)
			break
		}
		changed = true
		if g.full {
			g.log.Info("data dir filesystem has room again; deploys are accepted", "dir", g.dir, "free", free)
		}
		g.full = false
	case !held && !g.full:
		g.full = true
		g.log.Error("data dir filesystem has no room for the space reserve; deploys are refused until space is freed",
			"dir", g.dir, "free", free, "need", uint64(g.size)+g.lowWater)
	}
	if changed {
		if f, err := freeBytes(g.dir); err == nil {
			free = f
		}
	}
	g.free = free
	if g.full {
		return fmt.Errorf("%w: %s has %d MiB free and tend needs %d MiB before it takes new deploys; free space on that filesystem and retry",
			ErrFull, g.dir, free>>20, (uint64(g.size)+g.lowWater)>>20)
	}
	return nil
}

// Free is the free space measured by the last Check, in bytes.
func (g *Guard) Free() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.free
}

// Full reports whether the last Check found the filesystem full.
func (g *Guard) Full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.full
}

// Run checks every interval until ctx ends.
func (g *Guard) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = g.Check()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func freeBytes(dir string) (uint64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, err
	}
	return fs.Bavail * uint64(fs.Bsize), nil
}

// allocate creates path with size bytes really allocated (not a sparse file), atomically.
func allocate(path string, size int64) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		err = writeZeros(f, size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			return err
		}
	}
	return nil
}

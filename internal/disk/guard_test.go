package disk

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
)

// The thresholds are moved around the real free space of a temp dir: the disk itself is
// not filled here (bench/chaos does that on a real small tmpfs).
func TestGuardGivesUpTheReserveWhenFullAndTakesItBackWhenFreed(t *testing.T) {
	dir := t.TempDir()
	g := New(dir, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	g.size, g.lowWater = 1<<20, 1<<20

	if err := g.Check(); err != nil {
		t.Fatalf("plenty of space: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(g.reserve, &st); err != nil {
		t.Fatalf("no reserve file after the first check: %v", err)
	}
	if st.Size != 1<<20 || st.Blocks*512 < 1<<20 {
		t.Fatalf("reserve is %d bytes with %d allocated, want 1 MiB really allocated", st.Size, st.Blocks*512)
	}

	g.lowWater = g.Free() + 1<<40 // the filesystem now counts as full
	err := g.Check()
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("full filesystem: %v, want ErrFull naming %s and what to do", err, dir)
	}
	if _, err := os.Stat(g.reserve); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reserve still there when full: %v", err)
	}
	if err := g.Check(); !errors.Is(err, ErrFull) || !g.Full() {
		t.Fatalf("second check while full: %v, want still full", err)
	}

	g.lowWater = 1 << 20 // space was freed
	if err := g.Check(); err != nil || g.Full() {
		t.Fatalf("after space was freed: %v", err)
	}
	if _, err := os.Stat(g.reserve); err != nil {
		t.Fatalf("reserve not re-created: %v", err)
	}
}

func TestGuardWithoutRoomForTheReserveRefusesFromTheStart(t *testing.T) {
	g := New(t.TempDir(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	g.size = 1 << 60
	if err := g.Check(); !errors.Is(err, ErrFull) {
		t.Fatalf("no room for the reserve: %v, want ErrFull", err)
	}
}

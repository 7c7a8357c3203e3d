package build

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleTemp is how old a leftover build or copy output must be before GC removes it:
// older than any build still running.
const staleTemp = time.Hour

// GC removes every artifact whose digest ("sha256:<hex>") is not in keep, and build
// outputs left behind by a crashed server. The source index stays: a source whose
// artifact was removed is compiled again when it is next deployed, with its first build
// time, and so gives the same digest.
func (b *Builder) GC(keep map[string]bool) error {
	b.gc.Lock()
	defer b.gc.Unlock()
	entries, err := os.ReadDir(b.Dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read artifact dir: %w", err)
	}
	var errs []error
	removed := 0
	for _, e := range entries {
		path := filepath.Join(b.Dir, e.Name())
		switch {
		case e.IsDir() && isDigestHex(e.Name()):
			if keep["sha256:"+e.Name()] {
				continue
			}
			if err := os.RemoveAll(path); err != nil {
				errs = append(errs, fmt.Errorf("remove artifact %s: %w", e.Name(), err))
				continue
			}
			removed++
		case strings.HasPrefix(e.Name(), ".build-") || strings.HasPrefix(e.Name(), ".copy-"):
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				errs = append(errs, os.Remove(path))
			}
		}
	}
	b.log().Info("artifact gc", "dir", b.Dir, "removed", removed, "kept", len(keep))
	return errors.Join(errs...)
}

func isDigestHex(name string) bool {
	if len(name) != 64 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

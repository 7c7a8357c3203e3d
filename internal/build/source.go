package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// listedPackage is what `go list -deps -json` says about one package.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	CFiles     []string
	HFiles     []string
	SFiles     []string
	EmbedFiles []string
	Module     *struct {
		Path, Version, GoMod string
		Main                 bool
	}
}

// sourceKey hashes everything that decides the executable: toolchain, target, flags
// (minus build time), the main package's commit, and the contents of every non-standard
// package it depends on, with their modules' go.mod and go.sum.
func (b *Builder) sourceKey(ctx context.Context, pkgDir string, r Request, commit string) (string, error) {
	cmd := exec.CommandContext(ctx, b.goBin(), "list", "-deps", "-json", ".")
	cmd.Dir = pkgDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list in %s: %w\n%s", pkgDir, err, strings.TrimSpace(stderr.String()))
	}
	h := sha256.New()
	fmt.Fprintf(h, "go %s %s/%s cgo=%s version=%s commit=%s\n", goVersion(ctx, b.goBin()), runtime.GOOS, runtime.GOARCH,
		os.Getenv("CGO_ENABLED"), r.Version, commit)
	dec := json.NewDecoder(bytes.NewReader(raw))
	mods := map[string]bool{}
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			return "", fmt.Errorf("decode go list output: %w", err)
		}
		if p.Standard {
			continue
		}
		fmt.Fprintf(h, "package %s\n", p.ImportPath)
		if p.Module != nil && !p.Module.Main && p.Module.Version != "" {
			// a versioned module's content is pinned by its version and go.sum
			fmt.Fprintf(h, "module %s@%s\n", p.Module.Path, p.Module.Version)
			continue
		}
		if p.Module != nil && p.Module.GoMod != "" && !mods[p.Module.GoMod] {
			mods[p.Module.GoMod] = true
			for _, f := range []string{p.Module.GoMod, filepath.Join(filepath.Dir(p.Module.GoMod), "go.sum")} {
				if err := hashFile(h, f); err != nil && !os.IsNotExist(err) {
					return "", err
				}
			}
		}
		var files []string
		for _, group := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.HFiles, p.SFiles, p.EmbedFiles} {
			files = append(files, group...)
		}
		sort.Strings(files)
		for _, f := range files {
			if err := hashFile(h, filepath.Join(p.Dir, f)); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(h, "file %s\n", filepath.Base(path))
	_, err = io.Copy(h, f)
	return err
}

func goVersion(ctx context.Context, goBin string) string {
	out, err := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// gitCommit is HEAD of the work tree holding dir ("-dirty" when it has changes), or "unknown".
func gitCommit(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--", ".").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		commit += "-dirty"
	}
	return commit
}

// gitDescribe is `git describe --tags --always --dirty` for dir, or "".
func gitDescribe(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

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
	"slices"
	"sort"
	"strings"
)

// listedPackage is what `go list -deps -json` says about one package.
type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	CFiles     []string
	CXXFiles   []string
	HFiles     []string
	SFiles     []string
	SysoFiles  []string
	EmbedFiles []string
	Module     *listedModule
}

type listedModule struct {
	Path, Version, GoMod string
	Main                 bool
	Replace              *listedModule
}

// pinned reports whether the module's content is fixed by its version (and go.sum):
// true for a downloaded module, false for the main module and for a replacement by a local directory.
func (m *listedModule) pinned() bool {
	if m == nil || m.Main {
		return false
	}
	if m.Replace != nil {
		return m.Replace.Version != ""
	}
	return m.Version != ""
}

// envKeys are the go env settings that change the executable go build writes.
var envKeys = []string{"GOVERSION", "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOEXPERIMENT",
	"GOAMD64", "GOARM64", "GOARM", "GO386", "GOWORK", "CC"}

// sourceKey hashes everything that decides the executable: the app, the toolchain and
// target, the injected version and commit (the ldflags minus build time), and the contents
// of every non-standard package the main package depends on, with their modules' go.mod
// and go.sum. It fails when pkgDir is not a main package.
func (b *Builder) sourceKey(ctx context.Context, pkgDir string, r Request, version, commit string) (string, error) {
	env, err := b.goCmd(ctx, r, pkgDir, append([]string{"env"}, envKeys...)...)
	if err != nil {
		return "", err
	}
	listed, err := b.goCmd(ctx, r, pkgDir, "list", "-deps", "-json", ".")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "app %s\nversion %s\ncommit %s\nenv %s\n", r.App, version, commit, env)
	if gowork := goEnv(env, "GOWORK"); gowork != "" && gowork != "off" {
		if err := hashFile(h, gowork); err != nil && !os.IsNotExist(err) {
			return "", err
		}
	}
	dec := json.NewDecoder(strings.NewReader(listed))
	mods := map[string]bool{}
	var last listedPackage
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			return "", fmt.Errorf("decode go list output: %w", err)
		}
		last = p
		if p.Standard {
			continue
		}
		fmt.Fprintf(h, "package %s\n", p.ImportPath)
		if err := r.confined(p); err != nil {
			return "", err
		}
		if p.Module.pinned() {
			fmt.Fprintf(h, "module %s@%s\n", p.Module.Path, p.Module.Version)
			if p.Module.Replace != nil {
				fmt.Fprintf(h, "replaced by %s@%s\n", p.Module.Replace.Path, p.Module.Replace.Version)
			}
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
		for _, group := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.CXXFiles, p.HFiles, p.SFiles, p.SysoFiles, p.EmbedFiles} {
			files = append(files, group...)
		}
		sort.Strings(files)
		for _, f := range files {
			if err := hashFile(h, filepath.Join(p.Dir, f)); err != nil {
				return "", err
			}
		}
	}
	// go list -deps prints the named package last
	if last.Name != "main" {
		return "", fmt.Errorf("build.main: %s is package %s (%s), not a main package; point build.main at the directory of a package main", pkgDir, last.Name, last.ImportPath)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// env is the go command's environment for r: tend's, with Env over it (nil: tend's as
// it is). A build in an upload is of a client's source, whose build output goes back
// to the client: no go.work (it could name modules outside the upload), no cgo (a C
// preamble's #include would read the server's files into a compiler's message), and
// no toolchain but the server's (go.mod's toolchain line would download and run one).
func (b *Builder) env(r Request) []string {
	extra := b.Env
	if r.Root != "" {
		extra = append(slices.Clip(extra), "GOWORK=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	}
	if len(extra) == 0 {
		return nil
	}
	return append(os.Environ(), extra...)
}

// confined refuses, for a build in an upload, a package of a module that is neither
// the module proxy's (fixed by its version) nor in the upload: a replace directive
// pointing at a directory of the server's.
func (r Request) confined(p listedPackage) error {
	if r.Root == "" || p.Module.pinned() {
		return nil
	}
	if rel, err := filepath.Rel(r.Root, p.Dir); err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("package %s is in %s, outside what was uploaded: a replace directive of go.mod points at a directory the client did not send (a local replacement must be a module tend deploy can upload)", p.ImportPath, p.Dir)
	}
	return nil
}

// goCmd runs the go command for r in dir and returns its standard output.
func (b *Builder) goCmd(ctx context.Context, r Request, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.goBin(), args...)
	cmd.Env = b.env(r)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// goEnv picks one setting from the output of `go env envKeys...` (one value a line, in order).
func goEnv(out, key string) string {
	lines := strings.Split(out, "\n")
	for i, k := range envKeys {
		if k == key && i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file %s %d\n", filepath.Base(path), st.Size())
	_, err = io.Copy(h, f)
	return err
}

// GitCommit is HEAD of the work tree holding dir, with "-dirty" when the tree has
// uncommitted changes (as go's vcs.modified and git describe --dirty judge), or "unknown".
func GitCommit(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		commit += "-dirty"
	}
	return commit
}

// GitDescribe is `git describe --tags --always --dirty` for dir, or "".
func GitDescribe(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Package build turns an app's build section into a content-addressed executable artifact with its version injected.
package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Request says what to build.
type Request struct {
	App string
	// Dir is the spec file's directory; Main and Binary resolve against it.
	Dir string
	// Main is a Go main package directory, or Binary a prebuilt executable.
	Main   string
	Binary string
	// Version overrides the injected version.
	Version string
	// Commit overrides the commit of the work tree Main is in (a build from an upload
	// has none: the client says which).
	Commit string
	// Root, for a build from an upload, is the upload's directory: every package not of
	// the module proxy must be in it, and no go.work is used.
	Root string
}

// Artifact is a built executable, stored under its content digest.
type Artifact struct {
	Digest    string `json:"digest"` // sha256:<hex> of the executable
	Path      string `json:"path"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"buildTime"`
	// Reused is true when the same source was built before and nothing was compiled.
	Reused bool `json:"-"`
}

// Builder builds artifacts into Dir.
type Builder struct {
	// Dir holds artifacts (Dir/<hex>/<app>) and the source index (Dir/sources/<key>.json).
	Dir string
	// GoBin is the go command (default "go" from PATH).
	GoBin string
	// Env is added to the go command's environment (e.g. CGO_ENABLED=0, GOOS=linux);
	// tend's own environment is never changed.
	Env    []string
	Logger *slog.Logger

	// gc excludes GC while builds in this process store artifacts.
	gc sync.RWMutex
}

// Build produces the artifact for r, streaming compiler output to out. The same source,
// flags and toolchain give the same artifact without compiling again.
func (b *Builder) Build(ctx context.Context, r Request, out io.Writer) (Artifact, error) {
	b.gc.RLock()
	defer b.gc.RUnlock()
	if err := b.makeDirs(); err != nil {
		return Artifact{}, err
	}
	if r.Binary != "" {
		return b.copyBinary(r)
	}
	return b.buildMain(ctx, r, out)
}

// makeDirs creates Dir 0711 and Dir/sources 0700: an instance running as a user of
// its own reaches its executable by its path (a digest it cannot guess for another
// app's), but cannot list artifacts or read the source index.
func (b *Builder) makeDirs() error {
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{b.Dir, 0o711}, {filepath.Join(b.Dir, "sources"), 0o700}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return fmt.Errorf("create artifact dir: %w", err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("set the mode of %s: %w", d.path, err)
		}
	}
	return nil
}

func (b *Builder) goBin() string {
	if b.GoBin != "" {
		return b.GoBin
	}
	return "go"
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func (b *Builder) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.Default()
}

func (b *Builder) buildMain(ctx context.Context, r Request, out io.Writer) (Artifact, error) {
	pkgDir := resolve(r.Dir, r.Main)
	if st, err := os.Stat(pkgDir); err != nil || !st.IsDir() {
		return Artifact{}, fmt.Errorf("build.main %q: %s is not a directory (paths resolve against the spec's directory)", r.Main, pkgDir)
	}
	commit := r.Commit
	if commit == "" {
		commit = GitCommit(ctx, pkgDir)
	}
	version := r.Version
	if version == "" {
		version = GitDescribe(ctx, pkgDir)
	}
	key, err := b.sourceKey(ctx, pkgDir, r, version, commit)
	if err != nil {
		return Artifact{}, err
	}
	if version == "" {
		version = "dev-" + key[:12]
	}
	index := filepath.Join(b.Dir, "sources", key+".json")
	// one build per source at a time: a concurrent build of the same source waits and reuses
	unlock, err := lockFile(index + ".lock")
	if err != nil {
		return Artifact{}, err
	}
	defer unlock()
	prev, indexed := readIndex(index)
	if indexed && intact(prev) {
		prev.Reused = true
		fmt.Fprintf(out, "%s: source unchanged, reusing artifact %s\n", r.App, prev.Digest)
		return prev, nil
	}
	a := Artifact{Version: version, Commit: commit, BuildTime: time.Now().UTC().Format(time.RFC3339)}
	if indexed {
		// the artifact of a known source went missing: the first build time gives the same bytes again
		a.BuildTime = prev.BuildTime
	}
	tmp, err := os.CreateTemp(b.Dir, ".build-*")
	if err != nil {
		return Artifact{}, fmt.Errorf("create build output: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := []string{"build", "-trimpath", "-ldflags", ldflags(a), "-o", tmp.Name(), "."}
	fmt.Fprintf(out, "%s: go %s\n", r.App, strings.Join(args, " "))
	start := time.Now()
	cmd := exec.CommandContext(ctx, b.goBin(), args...)
	cmd.Env = b.env(r)
	cmd.Dir = pkgDir
	var tail tailBuffer
	w := io.MultiWriter(out, &tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Artifact{}, fmt.Errorf("build of %s stopped: %w", pkgDir, ctx.Err())
		}
		return Artifact{}, fmt.Errorf("go build in %s failed: %w\n%s\nfix the error and deploy again; reproduce with: cd %s && go build .", pkgDir, err, tail.String(), pkgDir)
	}
	if _, err := b.store(tmp.Name(), r.App, &a); err != nil {
		return Artifact{}, err
	}
	if err := writeJSON(index, a); err != nil {
		return Artifact{}, fmt.Errorf("record the build of %s: %w", pkgDir, err)
	}
	b.log().Info("built artifact", "app", r.App, "digest", a.Digest, "version", a.Version, "commit", a.Commit, "took", time.Since(start).Round(time.Millisecond).String())
	fmt.Fprintf(out, "%s: built %s (version %s)\n", r.App, a.Digest, a.Version)
	return a, nil
}

// ldflags injects version, commit and build time into package main (the seed's
// main.version, main.commit, main.buildTime) and into kit/buildinfo.
func ldflags(a Artifact) string { return LDFlags(a.Version, a.Commit, a.BuildTime) }

// LDFlags are the -ldflags that inject a version, commit and build time into main's
// and kit's buildinfo variables, for tend's builds and the CLI's (deploy --build local).
func LDFlags(version, commit, buildTime string) string {
	const kit = "github.com/tendhq/tend/kit/buildinfo"
	return strings.Join([]string{
		"-X main.version=" + version, "-X main.commit=" + commit, "-X main.buildTime=" + buildTime,
		"-X " + kit + ".Version=" + version, "-X " + kit + ".Commit=" + commit, "-X " + kit + ".BuildTime=" + buildTime,
	}, " ")
}

// readIndex reads the artifact recorded for a source key.
func readIndex(index string) (Artifact, bool) {
	raw, err := os.ReadFile(index)
	if err != nil {
		return Artifact{}, false
	}
	var a Artifact
	if json.Unmarshal(raw, &a) != nil || a.BuildTime == "" {
		return Artifact{}, false
	}
	return a, true
}

// intact reports whether the artifact's file is still there with its digest.
func intact(a Artifact) bool {
	d, err := fileDigest(a.Path)
	return err == nil && d == a.Digest
}

func (b *Builder) copyBinary(r Request) (Artifact, error) {
	src := resolve(r.Dir, r.Binary)
	st, err := os.Stat(src)
	if err != nil {
		return Artifact{}, fmt.Errorf("build.binary %q: %w (paths resolve against the spec's directory)", r.Binary, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return Artifact{}, fmt.Errorf("build.binary %q: %s is not an executable file", r.Binary, src)
	}
	a := Artifact{Version: r.Version, Commit: r.Commit, BuildTime: st.ModTime().UTC().Format(time.RFC3339)}
	if a.Commit == "" {
		a.Commit = "unknown"
	}
	if a.Version == "" {
		a.Version = "unknown"
	}
	tmp, err := os.CreateTemp(b.Dir, ".copy-*")
	if err != nil {
		return Artifact{}, err
	}
	defer os.Remove(tmp.Name())
	in, err := os.Open(src)
	if err != nil {
		tmp.Close()
		return Artifact{}, err
	}
	_, err = io.Copy(tmp, in)
	in.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("copy %s: %w", src, err)
	}
	existed, err := b.store(tmp.Name(), r.App, &a)
	if err != nil {
		return Artifact{}, err
	}
	a.Reused = existed
	return a, nil
}

// store moves a finished executable into Dir/<hex>/<app>, read-only, and reports whether
// an identical artifact was already there (then it is kept as it is).
func (b *Builder) store(tmp, app string, a *Artifact) (bool, error) {
	d, err := fileDigest(tmp)
	if err != nil {
		return false, err
	}
	a.Digest = d
	dir := filepath.Join(b.Dir, strings.TrimPrefix(d, "sha256:"))
	a.Path = filepath.Join(dir, app)
	if intact(*a) {
		return true, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o555); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, a.Path); err != nil {
		return false, fmt.Errorf("store artifact: %w", err)
	}
	return false, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func writeJSON(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tailBuffer keeps the last lines written to it, for error messages.
type tailBuffer struct {
	lines   []string
	partial []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.partial[:i]))
		t.partial = t.partial[i+1:]
		if len(t.lines) > 20 {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	lines := t.lines
	if len(t.partial) > 0 {
		lines = append(lines, string(t.partial))
	}
	return strings.Join(lines, "\n")
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/spec"
)

// buildLocally builds app's build.main here for the platform the server runs (it says
// which), statically (CGO_ENABLED=0), with the version, commit and build time tend's
// own builds inject, and returns the executable's path: one per app and platform in the
// user's cache, so that an unchanged build is an unchanged upload.
func buildLocally(ctx context.Context, c *api.Client, app *spec.App, view *buildView) (string, error) {
	info, err := c.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("--build local: ask the server for its platform: %w", err)
	}
	if info.Target == nil {
		return "", fmt.Errorf("--build local: the server (%s) does not say its platform, being older than this CLI: upgrade it, or let it build (--build server)", info.Version)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("--build local: %w", err)
	}
	out := filepath.Join(cache, "tend", "builds", app.App+"-"+info.Target.OS+"-"+info.Target.Arch, app.App)
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return "", fmt.Errorf("--build local: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d", out, os.Getpid()) // a concurrent build of the app does not see it half-written
	dir := app.Path(app.Build.Main)
	commit := build.GitCommit(ctx, dir)
	version := app.Build.Version
	if version == "" {
		version = build.GitDescribe(ctx, dir)
	}
	if version == "" {
		version = "dev"
	}
	args := []string{"build", "-trimpath", "-ldflags", build.LDFlags(version, commit, buildTime(ctx, dir, commit)), "-o", tmp, "."}
	target := info.Target.OS + "/" + info.Target.Arch
	view.line(fmt.Sprintf("%s for %s here: go %s", app.App, target, strings.Join(args, " ")))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS="+info.Target.OS, "GOARCH="+info.Target.Arch, "CGO_ENABLED=0")
	lines := &lineSplitter{emit: view.line}
	cmd.Stdout, cmd.Stderr = lines, lines
	err = cmd.Run()
	lines.flush()
	if err != nil {
		os.Remove(tmp)
		return "", &exitCodeError{code: exitInvalid, err: app.FieldError("build.main", "go build in %s for %s/%s: %v (nothing was sent)", dir, info.Target.OS, info.Target.Arch, err)}
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("--build local: %w", err)
	}
	view.line(fmt.Sprintf("%s: built %s here (version %s)", app.App, target, version))
	return out, nil
}

// buildTime is what the executable says it was built at: the commit's time for a clean
// work tree, else the newest change of the main package's files, so that the same source
// builds the same bytes (and an unchanged deploy uploads nothing).
func buildTime(ctx context.Context, dir, commit string) string {
	if commit != "unknown" && !strings.HasSuffix(commit, "-dirty") {
		if out, err := exec.CommandContext(ctx, "git", "-C", dir, "show", "-s", "--format=%cI", "HEAD").Output(); err == nil {
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(out))); err == nil {
				return t.UTC().Format(time.RFC3339)
			}
		}
	}
	var newest time.Time
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if newest.IsZero() {
		newest = time.Now()
	}
	return newest.UTC().Format(time.RFC3339)
}

package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	gitignore "github.com/sabhiram/go-gitignore"
	"golang.org/x/mod/modfile"

	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/spec"
)

// Collect gathers what the server needs to deploy app (loaded from its file, App.Dir
// set): the spec, for build.main the source of its Go module (and of the modules its
// go.mod replaces with local directories), for build.binary the executable, and the
// rule files, config files (files: from) and certificate files the spec names. A
// module's files are those `git ls-files` lists (tracked, and untracked but not
// ignored) in a git work tree, or else every file minus those the module root's
// .gitignore names; nested modules are left out unless replaced.
func Collect(ctx context.Context, app *spec.App) (*Bundle, error) {
	c := &collector{ctx: ctx, modules: map[string]bool{}}
	c.add(app.Path(filepath.Base(app.File)), "")
	gitDir := app.Dir
	switch {
	case app.Build.Main != "":
		dir := app.Path(app.Build.Main)
		root, err := moduleRoot(dir)
		if err != nil {
			return nil, app.FieldError("build.main", "%v", err)
		}
		if err := c.module(root); err != nil {
			return nil, app.FieldError("build.main", "%v", err)
		}
		gitDir = root
	case app.Build.Binary != "":
		c.add(app.Path(app.Build.Binary), "build.binary")
	}
	for i, r := range app.Alerts.Rules {
		c.add(app.Path(r), fmt.Sprintf("alerts.rules[%d]", i))
	}
	for i, f := range app.Files {
		if f.From != "" {
			c.add(app.Path(f.From), fmt.Sprintf("files[%d].from", i))
		}
	}
	if t := app.Route.TLS; t != nil && t.Cert != "" {
		c.add(app.Path(t.Cert), "route.tls.cert")
		c.add(app.Path(t.Key), "route.tls.key")
	}
	if c.err != nil {
		var fe *fieldErr
		if errors.As(c.err, &fe) && fe.field != "" {
			return nil, app.FieldError(fe.field, "%v", fe.err)
		}
		return nil, c.err
	}
	b := &Bundle{Files: sortFiles(c.files)}
	for _, f := range b.Files {
		b.Size += f.Size
	}
	if len(b.Files) > MaxFiles || b.Size > MaxSize {
		return nil, fmt.Errorf("the upload of %s is %d files and %d MiB, more than the limit of %d files and %d MiB: list what the build does not need (generated data, vendored assets) in .gitignore",
			app.App, len(b.Files), b.Size>>20, MaxFiles, MaxSize>>20)
	}
	b.Digest = digest(b.Files)
	b.Commit, b.Describe = build.GitCommit(ctx, gitDir), build.GitDescribe(ctx, gitDir)
	return b, nil
}

type collector struct {
	ctx     context.Context
	files   []File
	modules map[string]bool
	err     error
}

type fieldErr struct {
	field string
	err   error
}

func (e *fieldErr) Error() string { return e.err.Error() }

// add takes one file; field names the spec field it comes from, for the error.
func (c *collector) add(p, field string) {
	if c.err != nil {
		return
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		c.err = &fieldErr{field, err}
		return
	case !fi.Mode().IsRegular():
		c.err = &fieldErr{field, fmt.Errorf("%s is not a regular file", p)}
		return
	}
	f, err := hashFile(p, fi)
	if err != nil {
		c.err = &fieldErr{field, err}
		return
	}
	c.files = append(c.files, f)
}

func hashFile(p string, fi fs.FileInfo) (File, error) {
	r, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", p, err)
	}
	f := File{Path: cleanPath(filepath.ToSlash(p)), Mode: fileMode(fi.Mode()), Size: n}
	copy(f.Sum[:], h.Sum(nil))
	return f, nil
}

// moduleRoot is the directory of the go.mod that holds dir.
func moduleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", abs)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above it: the server builds a Go module (go mod init makes one)", abs)
		}
	}
}

// module takes the files of the module at root and of the local modules it replaces.
func (c *collector) module(root string) error {
	if c.modules[root] {
		return nil
	}
	c.modules[root] = true
	names, err := c.moduleFiles(root)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := filepath.Join(root, filepath.FromSlash(n))
		if li, err := os.Lstat(p); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			if err := linkInside(root, p); err != nil {
				return err
			}
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted but still tracked, a submodule, a link to a directory
		}
		f, err := hashFile(p, fi)
		if err != nil {
			return err
		}
		c.files = append(c.files, f)
		if len(c.files) > MaxFiles {
			return fmt.Errorf("module %s has more than %d files: list what the build does not need in .gitignore", root, MaxFiles)
		}
	}
	gomod := filepath.Join(root, "go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	mf, err := modfile.Parse(gomod, b, nil)
	if err != nil {
		return fmt.Errorf("parse %w", err)
	}
	for _, r := range mf.Replace {
		if r.New.Version != "" {
			continue // a module of the proxy, not a directory
		}
		dir := r.New.Path
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		if err := c.module(filepath.Clean(dir)); err != nil {
			return fmt.Errorf("the replacement of %s in %s: %w", r.Old.Path, gomod, err)
		}
	}
	return nil
}

// linkInside refuses a symbolic link of a module that leads out of it: what it points
// at (a credentials file of the machine, say) would be uploaded as the link's content.
func linkInside(root, link string) error {
	target, err := filepath.EvalSymlinks(link)
	if err != nil {
		return nil // dangling: nothing is uploaded for it
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realRoot, target); err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("%s is a link to %s, outside the module: tend deploy does not upload what lies outside (replace the link with the file, or list it in .gitignore)", link, target)
	}
	return nil
}

// moduleFiles lists the module's files relative to root, without nested modules.
func (c *collector) moduleFiles(root string) ([]string, error) {
	names, err := gitFiles(c.ctx, root)
	if err != nil {
		names, err = walkFiles(root)
		if err != nil {
			return nil, err
		}
	}
	var nested []string
	for _, n := range names {
		if strings.HasSuffix(n, "/go.mod") {
			nested = append(nested, strings.TrimSuffix(n, "go.mod"))
		}
	}
	out := names[:0]
	for _, n := range names {
		inNested := false
		for _, prefix := range nested {
			if strings.HasPrefix(n, prefix) {
				inNested = true
				break
			}
		}
		if !inNested {
			out = append(out, n)
		}
	}
	return out, nil
}

// gitFiles is what git lists of the work tree under root: tracked files, and untracked
// ones that are not ignored; an error when root is not in a work tree.
func gitFiles(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	var names []string
	for _, n := range strings.Split(string(out), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// walkFiles lists every file under root but .git and what root/.gitignore names.
func walkFiles(root string) ([]string, error) {
	var ignore *gitignore.GitIgnore
	if ig, err := gitignore.CompileIgnoreFile(filepath.Join(root, ".gitignore")); err == nil {
		ignore = ig
	}
	var names []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case ignore != nil && ignore.MatchesPath(rel):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return nil
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the files of %s: %w", root, err)
	}
	return names, nil
}

package upload

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/spec"
)

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// project is a module with a main package, a nested module that is not replaced, a
// local module it replaces from outside its directory, an ignored file, and a spec
// whose rule and config files are beside it.
func project(t *testing.T) (dir string, app *spec.App) {
	t.Helper()
	dir = t.TempDir()
	mod := filepath.Join(dir, "shop")
	write(t, filepath.Join(mod, "go.mod"), "module shop\n\ngo 1.22\n\nrequire lib v0.0.0\n\nreplace lib => ../lib\n", 0o644)
	write(t, filepath.Join(mod, "cmd", "shop", "main.go"), "package main\nfunc main() {}\n", 0o644)
	write(t, filepath.Join(mod, "run.sh"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(mod, ".gitignore"), "*.log\nbuild/\n", 0o644)
	write(t, filepath.Join(mod, "debug.log"), "noise", 0o644)
	write(t, filepath.Join(mod, "build", "out"), "noise", 0o644)
	write(t, filepath.Join(mod, "tools", "go.mod"), "module tools\n", 0o644)
	write(t, filepath.Join(mod, "tools", "tool.go"), "package tools\n", 0o644)
	write(t, filepath.Join(dir, "lib", "go.mod"), "module lib\n", 0o644)
	write(t, filepath.Join(dir, "lib", "lib.go"), "package lib\n", 0o644)
	write(t, filepath.Join(mod, "deploy", "rules.yaml"), "groups: []\n", 0o644)
	write(t, filepath.Join(mod, "deploy", "production.yaml"), "db: {pool: 3}\n", 0o644)
	specFile := filepath.Join(mod, "deploy", "tend.yaml")
	write(t, specFile, "app: shop\nbuild: {main: ../cmd/shop}\nalerts: {rules: [rules.yaml]}\nfiles: [{path: config/production.yaml, from: production.yaml}]\n", 0o644)
	app, err := spec.Load(specFile)
	if err != nil {
		t.Fatal(err)
	}
	return dir, app
}

func paths(b *Bundle, dir string) []string {
	var out []string
	for _, f := range b.Files {
		out = append(out, strings.TrimPrefix(f.Path, filepath.ToSlash(dir)+"/"))
	}
	return out
}

var wantPaths = []string{"lib/go.mod", "lib/lib.go", "shop/.gitignore", "shop/cmd/shop/main.go", "shop/deploy/production.yaml",
	"shop/deploy/rules.yaml", "shop/deploy/tend.yaml", "shop/go.mod", "shop/run.sh"}

// Outside a git work tree, the module's files minus what .gitignore names, without the
// nested module, with the replaced one, and the spec's own files.
func TestCollectTakesTheModuleAndTheSpecsFiles(t *testing.T) {
	dir, app := project(t)
	b, err := Collect(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(b, dir); !slices.Equal(got, wantPaths) {
		t.Errorf("files:\n%v\nwant\n%v", got, wantPaths)
	}
	again, err := Collect(context.Background(), app)
	if err != nil || again.Digest != b.Digest {
		t.Errorf("the same files give digest %s, then %s (%v)", b.Digest, again.Digest, err)
	}
	write(t, filepath.Join(dir, "shop", "cmd", "shop", "main.go"), "package main\nfunc main() { println() }\n", 0o644)
	if changed, _ := Collect(context.Background(), app); changed.Digest == b.Digest {
		t.Error("a changed source file keeps the digest")
	}
}

// In a git work tree, what git lists: tracked files and untracked ones not ignored.
func TestCollectInAGitTreeTakesWhatGitLists(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (apt-get install git)")
	}
	dir, app := project(t)
	mod := filepath.Join(dir, "shop")
	for _, args := range [][]string{{"init", "-q"}, {"add", "go.mod", "cmd", ".gitignore"}, {"-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "x"}} {
		if out, err := exec.Command("git", append([]string{"-C", mod}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write(t, filepath.Join(mod, "local.log"), "ignored", 0o644)
	b, err := Collect(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(b, dir); !slices.Equal(got, wantPaths) {
		t.Errorf("files:\n%v\nwant\n%v", got, wantPaths)
	}
	if !strings.HasSuffix(b.Commit, "-dirty") || len(b.Commit) != 40+len("-dirty") {
		t.Errorf("commit %q: want HEAD with -dirty (untracked files)", b.Commit)
	}
}

// A file the spec names that is not there is refused with the spec's field.
func TestCollectNamesTheFieldOfAMissingFile(t *testing.T) {
	dir, app := project(t)
	if err := os.Remove(filepath.Join(dir, "shop", "deploy", "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err := Collect(context.Background(), app)
	if err == nil || !strings.Contains(err.Error(), "alerts.rules[0]") || !strings.Contains(err.Error(), "tend.yaml:3:") {
		t.Errorf("missing rule file: %v", err)
	}
}

// What a client packs, the server unpacks under the client's paths, read-only, with
// the executable bit kept; the digest is checked.
func TestAStreamIsKeptOnlyWhenItIsWhatItsDigestSays(t *testing.T) {
	dir, app := project(t)
	b, err := Collect(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := b.WriteTo(&stream); err != nil {
		t.Fatal(err)
	}
	s := &Store{Dir: filepath.Join(t.TempDir(), "uploads")}
	other := strings.Repeat("0", 64)
	if _, err := s.Put(other, bytes.NewReader(stream.Bytes())); !errors.Is(err, ErrInvalid) || s.Has(other) {
		t.Fatalf("a stream under another digest: %v", err)
	}
	info, err := s.Put(b.Digest, bytes.NewReader(stream.Bytes()))
	if err != nil || info.Files != len(wantPaths) || !s.Has(b.Digest) {
		t.Fatalf("put: %+v %v", info, err)
	}
	main := filepath.Join(s.Root(b.Digest), dir, "shop", "cmd", "shop", "main.go")
	if got, err := os.ReadFile(main); err != nil || !strings.Contains(string(got), "package main") {
		t.Errorf("main.go in the upload: %q %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(s.Root(b.Digest), dir, "shop", "run.sh")); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("run.sh: %v %v, want read-only and executable", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) != 1 {
		t.Errorf("the upload dir holds %d entries, want only the upload: a refused put leaves nothing", len(entries))
	}
	if n, err := s.Collect(nil, time.Hour); err != nil || n != 0 || !s.Has(b.Digest) {
		t.Errorf("collect of a new upload: removed %d %v", n, err)
	}
	if n, err := s.Collect(map[string]bool{s.Root(b.Digest): true}, 0); err != nil || n != 0 || !s.Has(b.Digest) {
		t.Errorf("collect of an upload in use: removed %d %v", n, err)
	}
	if n, err := s.Collect(nil, 0); err != nil || n != 1 || s.Has(b.Digest) {
		t.Errorf("collect of an unused upload: removed %d %v", n, err)
	}
}

// A hostile stream cannot write outside the upload, nor keep anything.
func TestHostileStreamsAreRefused(t *testing.T) {
	for name, h := range map[string]tar.Header{
		"parent":   {Typeflag: tar.TypeReg, Name: "../escape", Mode: 0o644, Size: 1},
		"absolute": {Typeflag: tar.TypeReg, Name: "/etc/escape", Mode: 0o644, Size: 1},
		"unclean":  {Typeflag: tar.TypeReg, Name: "a/../../escape", Mode: 0o644, Size: 1},
		"symlink":  {Typeflag: tar.TypeSymlink, Name: "link", Linkname: "/etc/passwd", Mode: 0o777},
		"setuid":   {Typeflag: tar.TypeReg, Name: "suid", Mode: 0o4755, Size: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				_, _ = tw.Write([]byte("x"))
			}
			tw.Close()
			zw.Close()
			base := t.TempDir()
			s := &Store{Dir: filepath.Join(base, "uploads")}
			if _, err := s.Put(strings.Repeat("a", 64), &buf); !errors.Is(err, ErrInvalid) {
				t.Errorf("put: %v, want ErrInvalid", err)
			}
			if _, err := os.Stat(filepath.Join(base, "escape")); err == nil {
				t.Error("a file was written outside the upload dir")
			}
			if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
				t.Errorf("the refused put left %d entries", len(entries))
			}
		})
	}
}

// A link of the module that leads out of it is refused: its target would go up.
func TestALinkOutOfTheModuleIsRefused(t *testing.T) {
	dir, app := project(t)
	write(t, filepath.Join(dir, "credentials"), "secret", 0o600)
	if err := os.Symlink(filepath.Join(dir, "credentials"), filepath.Join(dir, "shop", "creds")); err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(context.Background(), app); err == nil || !strings.Contains(err.Error(), "outside the module") {
		t.Errorf("a link out of the module: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "shop", "creds")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("run.sh", filepath.Join(dir, "shop", "run-link")); err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(context.Background(), app); err != nil {
		t.Errorf("a link inside the module: %v", err)
	}
}

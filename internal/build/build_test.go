package build

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// module writes a tiny main module that prints its injected version.
func module(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/tiny\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nvar version, commit, buildTime string\n\nfunc main() { fmt.Println(\"" + body + "\", version, commit) }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		t.Fatalf("run %s: %v\n%s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBuildInjectsVersionAndReusesSameSource(t *testing.T) {
	src := module(t, "hi")
	b := &Builder{Dir: t.TempDir()}
	var out bytes.Buffer
	a, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1.2.3"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := run(t, a.Path); got != "hi v1.2.3 unknown" {
		t.Fatalf("artifact printed %q, want the injected version", got)
	}
	if !strings.Contains(out.String(), "go build -trimpath") {
		t.Errorf("build output not streamed: %q", out.String())
	}
	again, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1.2.3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Digest != a.Digest || again.BuildTime != a.BuildTime {
		t.Fatalf("second build of the same source: %+v, want the first artifact %+v reused", again, a)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nvar version string\n\nfunc main() { fmt.Println(\"bye\", version) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1.2.3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Reused || changed.Digest == a.Digest || run(t, changed.Path) != "bye v1.2.3" {
		t.Fatalf("changed source gave %+v", changed)
	}
}

func TestCompileErrorLeavesNoArtifact(t *testing.T) {
	src := module(t, "hi")
	if err := os.WriteFile(filepath.Join(src, "broken.go"), []byte("package main\n\nfunc broken() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b := &Builder{Dir: dir}
	_, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: "."}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") || !strings.Contains(err.Error(), "go build .") {
		t.Fatalf("error %v, want the compiler's message and how to reproduce", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "sources" {
			t.Errorf("left %s in the artifact dir after a failed build", e.Name())
		}
	}
}

func TestMissingMainAndBinaryNameThePath(t *testing.T) {
	b := &Builder{Dir: t.TempDir()}
	if _, err := b.Build(context.Background(), Request{App: "x", Dir: "/nonexistent", Main: "./cmd"}, io.Discard); err == nil || !strings.Contains(err.Error(), "/nonexistent/cmd") {
		t.Errorf("missing main: %v", err)
	}
	if _, err := b.Build(context.Background(), Request{App: "x", Dir: "/nonexistent", Binary: "./bin/x"}, io.Discard); err == nil || !strings.Contains(err.Error(), "./bin/x") {
		t.Errorf("missing binary: %v", err)
	}
}

func TestBinaryIsCopiedByDigest(t *testing.T) {
	src := module(t, "bin")
	b := &Builder{Dir: t.TempDir()}
	built, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b2 := &Builder{Dir: t.TempDir()}
	a, err := b2.Build(context.Background(), Request{App: "tiny", Binary: built.Path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != built.Digest || !strings.HasPrefix(a.Path, b2.Dir) || !strings.HasPrefix(run(t, a.Path), "bin") {
		t.Fatalf("copied binary %+v, want the same digest stored in the new dir", a)
	}
}

func TestConcurrentBuildsOfTheSameSource(t *testing.T) {
	src := module(t, "hi")
	b := &Builder{Dir: t.TempDir()}
	var wg sync.WaitGroup
	digests := make([]string, 3)
	errs := make([]error, 3)
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1"}, io.Discard)
			digests[i], errs[i] = a.Digest, err
		}()
	}
	wg.Wait()
	for i := range digests {
		if errs[i] != nil || digests[i] != digests[0] {
			t.Fatalf("build %d: %s %v; want all the same digest %s", i, digests[i], errs[i], digests[0])
		}
	}
	a, _ := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: ".", Version: "v1"}, io.Discard)
	if run(t, a.Path) != "hi v1 unknown" {
		t.Fatal("the stored artifact does not run after concurrent builds")
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChangeInALocallyReplacedModuleRebuilds(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"go.mod":         "module example.com/app\n\ngo 1.22\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ./dep\n",
		"main.go":        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n)\n\nfunc main() { fmt.Println(dep.Word) }\n",
		"dep/go.mod":     "module example.com/dep\n\ngo 1.22\n",
		"dep/dep.go":     "package dep\n\nconst Word = \"one\"\n",
		"dep/unused.txt": "not part of the build",
	})
	b := &Builder{Dir: t.TempDir()}
	req := Request{App: "app", Dir: src, Main: "."}
	first, err := b.Build(context.Background(), req, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, src, map[string]string{"dep/unused.txt": "still not part of the build"})
	same, err := b.Build(context.Background(), req, io.Discard)
	if err != nil || !same.Reused {
		t.Fatalf("a file outside the build changed: %+v %v, want the artifact reused", same, err)
	}
	writeFiles(t, src, map[string]string{"dep/dep.go": "package dep\n\nconst Word = \"two\"\n"})
	second, err := b.Build(context.Background(), req, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if second.Reused || second.Digest == first.Digest || run(t, second.Path) != "two" {
		t.Fatalf("after changing the replaced module: %+v (first %s), want a new build printing two", second, first.Digest)
	}
}

// A build from an upload reads no module of the server's: a replace directive that
// leaves the upload's root is refused, naming the package; one inside it builds.
func TestABuildFromAnUploadStaysInIt(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "upload")
	writeFiles(t, base, map[string]string{
		"outside/go.mod":     "module example.com/dep\n\ngo 1.22\n",
		"outside/dep.go":     "package dep\n\nconst Word = \"server's\"\n",
		"upload/app/go.mod":  "module example.com/app\n\ngo 1.22\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ../../outside\n",
		"upload/app/main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n)\n\nfunc main() { fmt.Println(dep.Word) }\n",
		"upload/dep/go.mod":  "module example.com/dep\n\ngo 1.22\n",
		"upload/dep/dep.go":  "package dep\n\nconst Word = \"uploaded\"\n",
	})
	b := &Builder{Dir: t.TempDir()}
	req := Request{App: "app", Dir: filepath.Join(root, "app"), Main: filepath.Join(root, "app"), Root: root}
	_, err := b.Build(context.Background(), req, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "package example.com/dep") || !strings.Contains(err.Error(), "outside what was uploaded") {
		t.Fatalf("a replacement outside the upload: %v", err)
	}
	writeFiles(t, root, map[string]string{"app/go.mod": "module example.com/app\n\ngo 1.22\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ../dep\n"})
	a, err := b.Build(context.Background(), req, io.Discard)
	if err != nil || run(t, a.Path) != "uploaded" {
		t.Fatalf("a replacement inside the upload: %+v %v", a, err)
	}
	// cgo is off: a C preamble that includes a file of the server's is not compiled
	// (the file is left out of the build), so nothing of the file reaches the output
	secret := filepath.Join(base, "secret")
	writeFiles(t, base, map[string]string{"secret": "SECRETLINE-abc123\n",
		"upload/app/c.go": "package main\n\n/*\n#include \"" + secret + "\"\n*/\nimport \"C\"\n"})
	var out strings.Builder
	_, err = b.Build(context.Background(), req, &out)
	if err != nil && strings.Contains(err.Error(), "SECRETLINE") || strings.Contains(out.String(), "SECRETLINE") {
		t.Errorf("a cgo file in an upload shows the server's file: %v\n%s", err, out.String())
	}
}

func TestNotAMainPackage(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"go.mod": "module example.com/lib\n\ngo 1.22\n", "lib.go": "package lib\n"})
	b := &Builder{Dir: t.TempDir()}
	_, err := b.Build(context.Background(), Request{App: "lib", Dir: src, Main: "."}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a main package") {
		t.Fatalf("err %v, want it to say the directory is not a main package", err)
	}
}

func TestGCRemovesUnkeptArtifactsAndARebuildIsIdentical(t *testing.T) {
	one, two := module(t, "one"), module(t, "two")
	b := &Builder{Dir: t.TempDir()}
	a1, err := b.Build(context.Background(), Request{App: "one", Dir: one, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := b.Build(context.Background(), Request{App: "two", Dir: two, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.GC(map[string]bool{a2.Digest: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a1.Path); !os.IsNotExist(err) {
		t.Fatalf("unkept artifact %s still there: %v", a1.Path, err)
	}
	if run(t, a2.Path) != "two "+a2.Version+" unknown" {
		t.Fatal("the kept artifact no longer runs")
	}
	again, err := b.Build(context.Background(), Request{App: "one", Dir: one, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if again.Reused || again.Digest != a1.Digest || again.BuildTime != a1.BuildTime || again.Version != a1.Version {
		t.Fatalf("rebuild after GC: %+v, want a compile giving the first artifact %+v again", again, a1)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestVersionAndCommitFromGit(t *testing.T) {
	src := module(t, "git")
	git(t, src, "init", "-q")
	git(t, src, "add", ".")
	git(t, src, "commit", "-q", "-m", "first")
	git(t, src, "tag", "v0.3.0")
	head := git(t, src, "rev-parse", "HEAD")
	b := &Builder{Dir: t.TempDir()}
	a, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != "v0.3.0" || a.Commit != head || run(t, a.Path) != "git v0.3.0 "+head {
		t.Fatalf("artifact %+v printing %q, want version v0.3.0 and commit %s", a, run(t, a.Path), head)
	}
	writeFiles(t, src, map[string]string{"notes.txt": "uncommitted"})
	dirty, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if dirty.Commit != head+"-dirty" || dirty.Reused {
		t.Fatalf("build from a dirty tree: %+v, want commit %s-dirty", dirty, head)
	}
}

func TestBinaryCopiedTwiceIsReused(t *testing.T) {
	src := module(t, "bin")
	b := &Builder{Dir: t.TempDir()}
	built, err := b.Build(context.Background(), Request{App: "tiny", Dir: src, Main: "."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if built.Reused {
		t.Fatal("a first build says it reused an artifact")
	}
	copied, err := b.Build(context.Background(), Request{App: "tiny", Binary: built.Path, Version: "v9"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !copied.Reused || copied.Digest != built.Digest || copied.Version != "v9" || copied.Commit != "unknown" {
		t.Fatalf("copy of an already stored binary: %+v", copied)
	}
	st, err := os.Stat(copied.Path)
	if err != nil || st.Mode().Perm() != 0o555 {
		t.Fatalf("artifact mode %v %v, want read-only 0555", st.Mode(), err)
	}
}

func TestVersionIsInjectedIntoKitBuildinfo(t *testing.T) {
	// a stand-in for the kit module, so the test needs nothing downloaded
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"go.mod":            "module github.com/tendhq/tend/kit\n\ngo 1.22\n",
		"buildinfo/info.go": "package buildinfo\n\nvar Version, Commit, BuildTime string\n",
		"cmd/svc/main.go":   "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/tendhq/tend/kit/buildinfo\"\n)\n\nfunc main() { fmt.Println(buildinfo.Version, buildinfo.BuildTime) }\n",
	})
	b := &Builder{Dir: t.TempDir()}
	a, err := b.Build(context.Background(), Request{App: "svc", Dir: src, Main: "./cmd/svc", Version: "v2.0.0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, a.Path); got != "v2.0.0 "+a.BuildTime {
		t.Fatalf("buildinfo printed %q, want the injected version and build time %s", got, a.BuildTime)
	}
}

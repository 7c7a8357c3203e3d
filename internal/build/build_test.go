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

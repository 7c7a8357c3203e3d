package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module with a test that passes, one that fails, two that skip for one reason and
// one for another, run by go test itself.
func TestTheRunListsFailuresThenEachSkipReasonOnce(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.26\n")
	write("m_test.go", `package m

import "testing"

func TestPasses(t *testing.T) {}
func TestFails(t *testing.T) { t.Log("what was seen"); t.Fatal("the reason it failed") }
func TestNeedsChromium(t *testing.T) { t.Skip("chromium is not installed (apt-get install chromium)") }
func TestNeedsChromiumToo(t *testing.T) { t.Skip("chromium is not installed (apt-get install chromium)") }
func TestNeedsTmux(t *testing.T) { t.Skip("tmux is not installed (apt-get install tmux)") }
`)
	var out, errw bytes.Buffer
	code := run(root, []string{"."}, []string{"-count=1"}, &out, &errw)
	got := out.String()
	if code != 1 {
		t.Errorf("exit %d, want 1 for a failed test:\n%s\n%s", code, got, errw.String())
	}
	for _, want := range []string{
		"--- FAIL: TestFails", "what was seen", "the reason it failed", "FAIL\texample.com/m",
		"3 tests skipped themselves; to run them:\n" +
			"    2  chromium is not installed (apt-get install chromium)  (example.com/m TestNeedsChromium, example.com/m TestNeedsChromiumToo)\n" +
			"    1  tmux is not installed (apt-get install tmux)  (example.com/m TestNeedsTmux)\n",
		"1 passed, 1 failed, 3 skipped in 1 modules",
		"FAIL: example.com/m\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "=== RUN") || strings.Contains(got, "TestPasses") || strings.Contains(got, `"Action"`) {
		t.Errorf("the report shows a passing test, test2json's markers or raw events:\n%s", got)
	}
}

func TestABuildFailureIsShownAndFails(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/b\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(root, "b_test.go"), []byte("package b\n\nfunc broken() { undefinedThing() }\n"), 0o644)
	var out, errw bytes.Buffer
	if code := run(root, []string{"."}, nil, &out, &errw); code != 1 {
		t.Errorf("exit %d for a package that does not build, want 1", code)
	}
	if all := out.String() + errw.String(); !strings.Contains(all, "undefined: undefinedThing") {
		t.Errorf("the compiler's error is not shown:\n%s", all)
	}
}

func TestAPanicLeavesTheTestThatDidNotEnd(t *testing.T) {
	r := newReport(&bytes.Buffer{}, 1)
	events := `{"Action":"run","Package":"p","Test":"TestHangs"}
{"Action":"output","Package":"p","Test":"TestHangs","Output":"panic: test timed out after 30m0s\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t1800.1s\n"}
{"Action":"fail","Package":"p"}
`
	var out bytes.Buffer
	r.out = &out
	if err := r.read(strings.NewReader(events)); err != nil {
		t.Fatal(err)
	}
	if !r.failed() || !strings.Contains(out.String(), "--- TestHangs did not end:\npanic: test timed out") {
		t.Errorf("failed %v, printed:\n%s", r.failed(), out.String())
	}
}

// Command test runs the tests of every module in the repository (the root, kit and
// kit/registry) as go test does, then lists the tests that skipped themselves, one line
// per reason, each naming what makes those tests run.
//
//	go run ./test                     # every module's tests
//	go run ./test -run TestDeploy     # go test's flags are passed on
//
// It exits 1 when a test or a build failed, 2 when go test could not run.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// modules are the repository's modules whose tests run, in order.
var modules = []string{".", "kit", "kit/registry"}

func main() {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		os.Exit(2)
	}
	os.Exit(run(root, modules, os.Args[1:], os.Stdout, os.Stderr))
}

// run tests the modules under root with args passed to go test, reporting to out.
func run(root string, modules, args []string, out, errw io.Writer) int {
	start := time.Now()
	r := newReport(out, len(modules))
	code := 0
	for _, m := range modules {
		cmd := exec.Command("go", append([]string{"test", "-json", "-timeout", "30m"}, append(args, "./...")...)...)
		cmd.Dir = filepath.Join(root, m)
		cmd.Stderr = errw
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			fmt.Fprintln(errw, "test:", err)
			return 2
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(errw, "test: go test in %s: %v (is Go installed and on PATH?)\n", m, err)
			return 2
		}
		if err := r.read(stdout); err != nil {
			fmt.Fprintf(errw, "test: reading go test -json in %s: %v\n", m, err)
			code = 2
		}
		if err := cmd.Wait(); err != nil {
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				fmt.Fprintf(errw, "test: go test in %s: %v\n", m, err)
				return 2
			}
			if code == 0 {
				code = 1
			}
		}
	}
	if r.failed() && code == 0 {
		code = 1
	}
	r.summary(time.Since(start))
	return code
}

// repoRoot is the directory of the root module: the working directory or one above it
// whose go.mod has kit beside it.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "kit", "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no tend repository at or above %s: run it from a clone (go run ./test)", dir)
		}
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
)

// event is one line of go test -json (cmd/test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type testKey struct{ pkg, test string }

// report prints go test -json's events as go test prints its results (a line per
// package, the output of the tests that failed) and counts the tests by outcome.
type report struct {
	out     io.Writer
	modules int
	output  map[testKey][]string // each running test's output, until it ends
	started map[string][]string  // each package's tests that started, in order
	skips   map[string][]string  // reason → the tests that skipped for it ("pkg TestName")

	passed, failedTests, skipped int
	failedPackages               []string
}

func newReport(out io.Writer, modules int) *report {
	return &report{out: out, modules: modules, output: map[testKey][]string{}, started: map[string][]string{}, skips: map[string][]string{}}
}

// read reports every event of one go test -json run.
func (r *report) read(in io.Reader) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e event
			if json.Unmarshal(line, &e) != nil || e.Action == "" {
				r.out.Write(line) // not an event: go test's own words
			} else {
				r.event(e)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *report) event(e event) {
	k := testKey{e.Package, e.Test}
	switch {
	case e.Action == "build-output":
		fmt.Fprint(r.out, e.Output)
	case e.Test == "":
		r.packageEvent(e)
	case e.Action == "run":
		r.started[e.Package] = append(r.started[e.Package], e.Test)
		r.output[k] = nil
	case e.Action == "output":
		r.output[k] = append(r.output[k], e.Output)
	case e.Action == "pass":
		r.passed++
		delete(r.output, k)
	case e.Action == "fail":
		r.failedTests++
		r.printTest(k)
		delete(r.output, k)
	case e.Action == "skip":
		r.skipped++
		reason := skipReason(r.output[k])
		r.skips[reason] = append(r.skips[reason], shortPackage(e.Package)+" "+e.Test)
		delete(r.output, k)
	}
}

// packageEvent handles an event of the package itself: its output (ok, FAIL, a
// panic) and its end, when the tests that never ended (a panic, a timeout) are printed.
func (r *report) packageEvent(e event) {
	switch e.Action {
	case "output":
		if e.Output != "PASS\n" {
			fmt.Fprint(r.out, e.Output)
		}
	case "pass", "fail", "skip":
		for _, name := range r.started[e.Package] {
			k := testKey{e.Package, name}
			if _, running := r.output[k]; running {
				r.failedTests++
				fmt.Fprintf(r.out, "--- %s did not end:\n", name)
				r.printTest(k)
				delete(r.output, k)
			}
		}
		delete(r.started, e.Package)
		if e.Action == "fail" {
			r.failedPackages = append(r.failedPackages, shortPackage(e.Package))
		}
	}
}

// printTest prints a failed test's output as go test does, without test2json's
// === RUN, PAUSE, CONT and NAME markers.
func (r *report) printTest(k testKey) {
	for _, line := range r.output[k] {
		if !strings.HasPrefix(line, "=== ") {
			fmt.Fprint(r.out, line)
		}
	}
}

func (r *report) failed() bool { return r.failedTests > 0 || len(r.failedPackages) > 0 }

var logPrefix = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// skipReason is what a skipped test said (t.Skip's message, without file and line).
func skipReason(output []string) string {
	var words []string
	for _, line := range output {
		if strings.HasPrefix(line, "=== ") || strings.HasPrefix(strings.TrimSpace(line), "--- SKIP") {
			continue
		}
		if s := strings.TrimSpace(logPrefix.ReplaceAllString(line, "")); s != "" {
			words = append(words, s)
		}
	}
	if len(words) == 0 {
		return "(no reason given)"
	}
	return strings.Join(words, " ")
}

// summary lists the skips, one line per reason with the tests it kept from running,
// then the counts.
func (r *report) summary(took time.Duration) {
	if len(r.skips) > 0 {
		fmt.Fprintf(r.out, "\n%d %s skipped themselves; to run them:\n", r.skipped, plural(r.skipped, "test", "tests"))
		reasons := make([]string, 0, len(r.skips))
		for reason := range r.skips {
			reasons = append(reasons, reason)
		}
		// the reasons that keep the most tests from running first
		slices.SortFunc(reasons, func(a, b string) int {
			if d := len(r.skips[b]) - len(r.skips[a]); d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		for _, reason := range reasons {
			tests := r.skips[reason]
			named := tests
			if len(named) > 3 {
				named = append(slices.Clone(named[:3]), fmt.Sprintf("%d more", len(tests)-3))
			}
			fmt.Fprintf(r.out, "  %3d  %s  (%s)\n", len(tests), reason, strings.Join(named, ", "))
		}
	}
	fmt.Fprintf(r.out, "\n%d passed, %d failed, %d skipped in %d modules (%s)\n", r.passed, r.failedTests, r.skipped, r.modules, took.Round(time.Second))
	if len(r.failedPackages) > 0 {
		fmt.Fprintf(r.out, "FAIL: %s\n", strings.Join(r.failedPackages, ", "))
	}
}

// shortPackage is an import path without the module's prefix.
func shortPackage(path string) string {
	if s, ok := strings.CutPrefix(path, "github.com/tendhq/tend/"); ok {
		return s
	}
	return path
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

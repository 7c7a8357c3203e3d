package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestABuildOnATerminalIsOneLineWithItsTime(t *testing.T) {
	var out bytes.Buffer
	v := &buildView{w: &out, width: 80}
	v.line("hello: go build -trimpath -ldflags '-X main.version=v1.2.3 -X main.commit=0123456789abcdef -X main.buildTime=2026-12-02T00:00:00Z' -o /tmp/x .")
	v.line("hello: built sha256:0123456789abcdef0123456789abcdef (version v1.2.3)")
	v.close()
	screen := out.String()
	if strings.Contains(screen, "-ldflags") {
		t.Errorf("the go build command is shown whole on a terminal without -v:\n%q", screen)
	}
	last := screen[strings.LastIndex(screen, "\r\033[K")+len("\r\033[K"):]
	if !strings.HasPrefix(last, "build: hello: built in ") || !strings.Contains(last, "s: sha256:0123") {
		t.Errorf("the build's last row is %q, want the built line with the time it took", last)
	}
	for _, row := range strings.Split(strings.ReplaceAll(screen, "\r\033[K", "\n"), "\n") {
		if len([]rune(row)) >= 80 {
			t.Errorf("a row of %d columns wraps an 80-column terminal: %q", len([]rune(row)), row)
		}
	}
}

func TestABuildsCompilerErrorsAreShownWhole(t *testing.T) {
	var out bytes.Buffer
	v := &buildView{w: &out, width: 200}
	v.line("hello: go build -trimpath -o /tmp/x .")
	v.line("./main.go:12:2: undefined: fmt.Printx")
	v.close()
	if !strings.Contains(out.String(), "\r\033[Kbuild: ./main.go:12:2: undefined: fmt.Printx\n") {
		t.Errorf("the compiler's error does not replace the live row on a row of its own:\n%q", out.String())
	}
}

func TestABuildWithVerboseOrOffATerminalPrintsEveryLineWhole(t *testing.T) {
	long := "hello: go build -trimpath -ldflags '" + strings.Repeat("-X a=b ", 30) + "' -o /tmp/x ."
	for _, v := range []*buildView{{width: 80, verbose: true}, {width: 0}} {
		var out bytes.Buffer
		v.w = &out
		v.line(long)
		v.line("hello: built sha256:01 (version v1)")
		v.close()
		if want := "build: " + long + "\nbuild: hello: built sha256:01 (version v1)\n"; out.String() != want {
			t.Errorf("width %d verbose %v printed\n%q\nwant\n%q", v.width, v.verbose, out.String(), want)
		}
	}
}

func TestALocalBuildsOutputArrivesALineAtATime(t *testing.T) {
	var got []string
	l := &lineSplitter{emit: func(s string) { got = append(got, s) }}
	l.Write([]byte("a.go:1: one\nb.go"))
	l.Write([]byte(":2: two\nlast"))
	l.flush()
	if strings.Join(got, "|") != "a.go:1: one|b.go:2: two|last" {
		t.Errorf("lines %q", got)
	}
}

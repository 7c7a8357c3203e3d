package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// buildView prints a build's output as "build: LINE" rows. On a terminal the go build
// command (a long -ldflags line) is one live row with the time it has taken, which ends
// as "built in 12.3s: …"; with verbose, and wherever the output is not a terminal, every
// line is printed whole as it comes.
type buildView struct {
	mu      sync.Mutex
	w       io.Writer
	width   int // 0: not a terminal
	verbose bool

	what  string    // the live row's subject ("hello: go build") while the build runs
	start time.Time // when the go build line came (zero: no build seen)
	done  chan struct{}
	wg    sync.WaitGroup
}

func newBuildView(w io.Writer, verbose bool) *buildView {
	return &buildView{w: w, width: terminalWidth(w), verbose: verbose}
}

// line shows one line of the build's output.
func (b *buildView) line(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.width == 0 || b.verbose {
		fmt.Fprintln(b.w, "build:", s)
		return
	}
	if subject := goBuildSubject(s); subject != "" {
		b.what, b.start = subject+": go build", time.Now()
		b.drawLocked()
		b.tickLocked()
		return
	}
	if b.what != "" {
		fmt.Fprint(b.w, "\r\033[K")
		b.what = ""
	}
	if !b.start.IsZero() && strings.Contains(s, ": built ") {
		// the time first: a long digest is what a narrow terminal cuts
		s = strings.Replace(s, ": built ", fmt.Sprintf(": built in %s: ", roundElapsed(time.Since(b.start))), 1)
		b.start = time.Time{}
	}
	fmt.Fprintln(b.w, fit("build: "+s, b.width))
}

// close stops the live row's clock; a build that printed no end leaves its row as it is,
// with the time it had taken, followed by a newline.
func (b *buildView) close() {
	b.mu.Lock()
	if b.done != nil {
		close(b.done)
		b.done = nil
	}
	live := b.what != ""
	b.what = ""
	b.mu.Unlock()
	b.wg.Wait()
	if live {
		fmt.Fprintln(b.w)
	}
}

func (b *buildView) drawLocked() {
	fmt.Fprintf(b.w, "\r\033[K%s", fit(fmt.Sprintf("build: %s … %s", b.what, roundElapsed(time.Since(b.start))), b.width))
}

// tickLocked redraws the live row every second until close.
func (b *buildView) tickLocked() {
	if b.done != nil {
		return
	}
	done := make(chan struct{})
	b.done = done
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.mu.Lock()
				if b.what != "" {
					b.drawLocked()
				}
				b.mu.Unlock()
			}
		}
	}()
}

// goBuildSubject is what a line announcing a go build command builds ("hello", or
// "hello for linux/arm64 here"), or "" for any other line.
func goBuildSubject(line string) string {
	subject, _, ok := strings.Cut(line, ": go build ")
	if !ok || strings.ContainsAny(subject, "\t") {
		return ""
	}
	return subject
}

// roundElapsed shows d to the second, or to the tenth of a second under a minute.
func roundElapsed(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// lineSplitter is an io.Writer that hands each whole line written to emit (a command's
// output to a buildView); flush emits a last line without a newline.
type lineSplitter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (l *lineSplitter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineSplitter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

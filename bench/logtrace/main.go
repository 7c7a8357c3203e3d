// Command logtrace measures finding one trace's log lines: `tend logs --trace ID` on a
// `tend server` with examples/hello deployed by `tend deploy`, over about 1 GiB of kit
// log lines in the app's logs (the logs of instances that have exited, written with
// kit/log's own handler as a traced request writes them), against reading them all.
//
//	go run ./bench/logtrace -size 1Gi -runs 10
//
// It prints a Markdown table; bench/run.sh puts it in docs/BENCHMARKS.md.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	kitlog "github.com/tendhq/tend/kit/log"

	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/test/harness"
)

func main() {
	size := flag.String("size", "1Gi", "how much log to write (spread over -files files)")
	files := flag.Int("files", 16, "log files (of exited instances) to spread it over")
	runs := flag.Int("runs", 10, "searches, each for a trace of its own")
	root := flag.String("root", ".", "the tend repository (examples/hello is deployed from it)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	n, err := spec.ParseBytes(*size)
	if err != nil || n <= 0 {
		log.Error("logtrace bench", "err", fmt.Errorf("-size %q: want a size like 1Gi", *size))
		os.Exit(2)
	}
	if err := run(os.Stdout, *root, n, *files, *runs); err != nil {
		log.Error("logtrace bench", "err", err)
		os.Exit(1)
	}
}

func run(w io.Writer, root string, size int64, files, runs int) error {
	ws, err := harness.NewWorkspace(root)
	if err != nil {
		return err
	}
	defer ws.Close()
	s, err := harness.Start(harness.Config{Bin: ws.Bin, DataDir: filepath.Join(ws.Dir, "data")})
	if err != nil {
		return err
	}
	defer s.Stop()
	defer s.KillGateway()
	specFile := filepath.Join(ws.Dir, "tend.yaml")
	if err := os.WriteFile(specFile, []byte(harness.HelloSpec(ws.Hello, 1, "logtrace", harness.Rolling)), 0o644); err != nil {
		return err
	}
	if out, err := s.Tend("deploy", "-f", specFile); err != nil {
		return fmt.Errorf("deploy hello: %w\n%s", err, out)
	}
	// one real request: the gateway starts its trace, hello logs it
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Gateway+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	parts := strings.Split(resp.Header.Get("Traceparent"), "-")
	if len(parts) != 4 {
		return fmt.Errorf("the gateway answered without a traceparent")
	}
	real := parts[1]

	// the logs of exited instances, as kit writes them
	dir := filepath.Join(s.DataDir, "logs", "hello")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var probes []string
	start := time.Now()
	var written int64
	for f := range files {
		path := filepath.Join(dir, fmt.Sprintf("hello-1-past%02d.log", f))
		n, ids, err := writeKitLog(path, size/int64(files), r, max(1, runs/files+1))
		if err != nil {
			return err
		}
		written += n
		probes = append(probes, ids...)
	}
	wrote := time.Since(start)
	probes = probes[:min(runs, len(probes))]
	// the server indexes behind the writes: how long until it has read them all
	for {
		done, err := metric(s.API, "tend_logs_indexed_bytes_total")
		if err != nil {
			return err
		}
		if left, err := metric(s.API, "tend_logs_unindexed_bytes"); err != nil {
			return err
		} else if left == 0 && done >= float64(written) {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return fmt.Errorf("%.0f of %d bytes indexed after 10 minutes", done, written)
		}
		time.Sleep(100 * time.Millisecond)
	}
	indexedIn := time.Since(start)
	var logBytes, idxBytes int64
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if strings.HasSuffix(p, ".idx") {
				idxBytes += info.Size()
			} else {
				logBytes += info.Size()
			}
		}
		return nil
	})

	search := func(id string) (time.Duration, int, error) {
		t0 := time.Now()
		out, err := s.Tend("logs", "--trace", id, "-o", "json")
		took := time.Since(t0)
		if err != nil {
			return 0, 0, fmt.Errorf("tend logs --trace %s: %w\n%s", id, err, out)
		}
		return took, linesWith(out, id), nil
	}
	var took []time.Duration
	lines := 0
	for _, id := range probes {
		d, n, err := search(id)
		if err != nil {
			return err
		}
		if n != linesPerTrace {
			return fmt.Errorf("tend logs --trace %s found %d lines, want the %d written", id, n, linesPerTrace)
		}
		took = append(took, d)
		lines += n
	}
	realTook, realLines, err := search(real)
	if err != nil {
		return err
	}
	if realLines == 0 {
		return fmt.Errorf("tend logs --trace %s found no line of the real request", real)
	}
	// without the index: GNU grep over the same files, and tend's own --grep
	t0 := time.Now()
	if out, err := exec.Command("grep", "-rF", "--include=*.log", probes[0], dir).CombinedOutput(); err != nil {
		return fmt.Errorf("grep: %w\n%s", err, out)
	}
	grepTook := time.Since(t0)
	t0 = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := s.Command(ctx, "logs", "hello", "--all", "--tail", "-1", "--grep", probes[0], "-o", "json").CombinedOutput()
	tendGrep := time.Since(t0)
	tendGrepCell := tendGrep.Round(time.Millisecond).String()
	if err != nil {
		tendGrepCell = fmt.Sprintf("more than %s (%v)", tendGrep.Round(time.Second), err)
	} else if n := linesWith(string(out), probes[0]); n != linesPerTrace {
		return fmt.Errorf("tend logs --grep found %d lines of %s, want %d", n, probes[0], linesPerTrace)
	}

	slices.Sort(took)
	fmt.Fprintf(w, "examples/hello deployed by `tend deploy` on one `tend server`; %s of kit/log JSON lines (%d files of exited instances, 3 lines per traced request, %d traces) written into its logs in %s while the server ran. The server had indexed all of it %s after the writing began. Each search is `tend logs --trace ID -o json` for a trace written somewhere in those files (the CLI's whole run: start, request, answer).\n\n",
		mib(written), files, written/int64(avgTraceBytes), wrote.Round(time.Millisecond), indexedIn.Round(time.Millisecond))
	fmt.Fprintln(w, "| what | time | lines |")
	fmt.Fprintln(w, "|---|---:|---:|")
	fmt.Fprintf(w, "| `tend logs --trace ID`, %d traces: median | %s | %d each |\n", len(took), took[len(took)/2].Round(time.Millisecond), linesPerTrace)
	fmt.Fprintf(w, "| `tend logs --trace ID`: slowest of %d | %s | |\n", len(took), took[len(took)-1].Round(time.Millisecond))
	fmt.Fprintf(w, "| `tend logs --trace ID` of a real request through the gateway | %s | %d |\n", realTook.Round(time.Millisecond), realLines)
	fmt.Fprintf(w, "| without the index: `grep -rF ID` over the files | %s | %d |\n", grepTook.Round(time.Millisecond), linesPerTrace)
	fmt.Fprintf(w, "| without the index: `tend logs hello --all --tail -1 --grep ID` | %s | %d |\n", tendGrepCell, linesPerTrace)
	fmt.Fprintf(w, "\nIndex: %s for %s of logs, **%.2f%%** of their size.\n", mib(idxBytes), mib(logBytes), 100*float64(idxBytes)/float64(logBytes))
	return nil
}

const (
	linesPerTrace = 3
	avgTraceBytes = 3 * 330 // about what three of these lines take
)

// writeKitLog writes about size bytes of kit/log lines of traced requests to path and
// returns what it wrote and the ids of want traces taken at random places in it.
func writeKitLog(path string, size int64, r *rand.Rand, want int) (int64, []string, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	cw := &countWriter{w: bufio.NewWriterSize(f, 1<<20)}
	logger := kitlog.New(kitlog.Options{Service: "hello", Version: "v1.4.2", Writer: cw})
	pick := map[int64]bool{}
	for range want {
		pick[r.Int64N(size/int64(avgTraceBytes))] = true
	}
	var ids []string
	for i := int64(0); cw.n < size; i++ {
		var tid trace.TraceID
		var sid trace.SpanID
		binaryRand(r, tid[:])
		binaryRand(r, sid[:])
		ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
		if pick[i] {
			ids = append(ids, tid.String())
		}
		order := strconv.FormatInt(r.Int64N(1e6), 10)
		logger.InfoContext(ctx, "order looked up", slog.String("order", order), slog.Int("items", r.IntN(9)+1))
		logger.LogAttrs(ctx, slog.LevelInfo, "payment authorised", slog.String("order", order), slog.String("provider", "acme"), slog.Duration("took", time.Duration(r.IntN(90)+5)*time.Millisecond))
		logger.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", "GET"), slog.String("route", "GET /orders/{id}"), slog.String("path", "/orders/"+order),
			slog.Int("status", 200), slog.Int64("bytes", int64(r.IntN(4000))), slog.Duration("duration", time.Duration(r.IntN(100000))*time.Microsecond),
			slog.String("client_ip", "10.1.2."+strconv.Itoa(r.IntN(250))), slog.String("request_id", order+"-"+strconv.Itoa(r.IntN(1000))))
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		return 0, nil, err
	}
	return cw.n, ids, nil
}

func binaryRand(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// metric reads a metric without labels from the server's /metrics (-1: not there yet).
func metric(api, name string) (float64, error) {
	resp, err := http.Get("http://" + api + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1, nil // not measured yet
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// linesWith counts the lines of out that hold s.
func linesWith(out, s string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

package cli

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
)

func newTracesCmd(g *globals) *cobra.Command {
	var f api.TraceFilter
	var status string
	cmd := &cobra.Command{
		Use:   "traces [APP]",
		Short: "List the traces tend kept, newest first: requests through the gateway and what they called",
		Long: `List traces. The gateway gives every request a span, continuing the client's W3C
traceparent or starting a trace; it keeps the spans of a share of new traces
(tend server --trace-sample, 10% by default) and of every request that failed or took
longer than --trace-slow (1s). Instances send theirs to tend's OTLP receiver (tend sets
OTEL_EXPORTER_OTLP_ENDPOINT; kit services need nothing more), and follow the gateway's
sampling decision. Traces are kept for --trace-retention (72h) within
--trace-retention-size (1Gi).

tend trace ID shows one, with the log lines that carry its id.`,
		Example: `  tend traces
  tend traces hello --since 15m --status error
  tend traces --min-duration 500ms -o json
  tend trace $(tend traces hello --status error -o jsonpath='{[0].traceId}')`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				f.App = args[0]
			}
			switch status {
			case "", "any":
			case "error":
				f.Status = "error"
			default:
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--status %q: want error (only failed traces) or any", status)}
			}
			if err := checkFormat(g.output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Traces(cmd.Context(), f)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, list, func(tw *table) {
				head := "TRACE\tSTART\tDURATION\tSPANS\tERRORS\tROOT"
				if tw.Wide {
					head += "\tAPPS"
				}
				fmt.Fprintln(tw, head)
				for _, t := range list {
					start := t.Start.Local().Format("15:04:05.000")
					if tw.Wide {
						start = t.Start.Format(time.RFC3339Nano)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s", t.TraceID, start, roundDuration(time.Duration(t.Duration)), t.Spans, t.Errors, rootOf(t.Root))
					if tw.Wide {
						fmt.Fprintf(tw, "\t%s", strings.Join(t.Apps, ","))
					}
					fmt.Fprintln(tw)
				}
				if len(list) == 0 {
					fmt.Fprintln(tw, "(no traces kept that match: the gateway keeps a sample of requests, and every failed or slow one)")
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Since, "since", "", "only traces started at or after this time: a duration before now (15m) or RFC 3339")
	fl.StringVar(&f.Until, "until", "", "only traces started at or before this time: a duration before now or RFC 3339")
	fl.DurationVar(&f.MinDuration, "min-duration", 0, "only traces at least this long (500ms)")
	fl.StringVar(&status, "status", "", "error: only traces with a failed span")
	fl.IntVar(&f.Limit, "limit", 20, "the most traces to list (up to 1000)")
	fl.BoolVar(&f.Slowest, "slowest", false, "the longest traces first, instead of the newest")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]cobra.Completion{"error", "any"}, cobra.ShellCompDirectiveNoFileComp))
	addOutputFlag(cmd, g)
	return cmd
}

// rootOf is a trace's first span as a listing shows it: service, operation, status.
func rootOf(r v1.TraceRoot) string {
	s := r.Service + " " + r.Name
	if r.Status != 0 {
		s += fmt.Sprintf(" %d", r.Status)
	} else if r.Error {
		s += " failed"
	}
	return s
}

// traceView is what tend trace prints: the spans and the log lines of the trace.
type traceView struct {
	TraceID string       `json:"traceId"`
	Spans   []v1.Span    `json:"spans"`
	Hidden  int          `json:"hidden,omitempty"`
	Logs    []v1.LogLine `json:"logs"`
}

func newTraceCmd(g *globals) *cobra.Command {
	var noLogs bool
	cmd := &cobra.Command{
		Use:   "trace TRACE-ID",
		Short: "Show one trace: its spans as a tree, with the log lines that carry its id",
		Long: `Show a trace: each span (service, operation, start offset from the trace's start,
duration, status and key attributes) under its parent, and, under each span, the log
lines of that app's instances that carry the trace id, at their times.

The id is the 32 hex digits of a traceparent (00-<trace id>-<span id>-01): the gateway
answers every request with one, and its access log and kit's log lines carry it as
trace_id. tend traces lists the ones kept.`,
		Example: `  curl -si http://127.0.0.1:8080/ | grep -i traceparent
  tend trace 0af7651916cd43dd8448eb211c80319c
  tend trace 0af7651916cd43dd8448eb211c80319c -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			id := traceIDArg(args[0])
			c, err := g.client()
			if err != nil {
				return err
			}
			tr, err := c.Trace(cmd.Context(), id)
			if err != nil {
				return err
			}
			view := traceView{TraceID: tr.TraceID, Spans: tr.Spans, Hidden: tr.Hidden, Logs: []v1.LogLine{}}
			if !noLogs {
				if view.Logs, err = traceLogs(cmd, c, tr); err != nil {
					return err
				}
			}
			return render(cmd.OutOrStdout(), g.output, view, func(tw *table) { printTrace(tw, view, colorful(cmd.OutOrStdout())) })
		},
	}
	cmd.Flags().BoolVar(&noLogs, "no-logs", false, "the spans only, without looking for log lines")
	addOutputFlag(cmd, g)
	return cmd
}

// traceIDArg is a trace id as given on the command line: its 32 hex digits, or a whole
// traceparent (00-<trace id>-<span id>-01).
func traceIDArg(s string) string {
	id := strings.ToLower(strings.TrimSpace(s))
	if parts := strings.Split(id, "-"); len(parts) == 4 {
		return parts[1]
	}
	return id
}

// traceLogs are the log lines of every app the token may read that carry the trace's
// id, in time order: the server finds them through its logs' trace index.
func traceLogs(cmd *cobra.Command, c *api.Client, tr *v1.Trace) ([]v1.LogLine, error) {
	out, err := c.TraceLogs(cmd.Context(), tr.TraceID, "")
	var e *api.Error
	if errors.As(err, &e) && e.Code == http.StatusNotImplemented {
		return []v1.LogLine{}, nil // the logs are not on the server (kubernetes pods)
	}
	if err != nil {
		return nil, fmt.Errorf("read the log lines of the trace: %w", err)
	}
	return out, nil
}

// traceBounds is when the first span started and the last one ended.
func traceBounds(spans []v1.Span) (start, end time.Time) {
	for i, s := range spans {
		e := s.Start.Add(time.Duration(s.Duration))
		if i == 0 || s.Start.Before(start) {
			start = s.Start
		}
		if e.After(end) {
			end = e
		}
	}
	return start, end
}

// printTrace writes the span tree: under each span, its children and its log lines in
// time order. The columns are padded by hand (a log line's text runs on past them).
func printTrace(tw *table, v traceView, color bool) {
	start, end := traceBounds(v.Spans)
	failed, apps := 0, []string{}
	for _, s := range v.Spans {
		if s.Error {
			failed++
		}
		if !slices.Contains(apps, s.App) {
			apps = append(apps, s.App)
		}
	}
	fmt.Fprintf(tw, "trace %s: %s, %d spans, %d failed, apps %s", v.TraceID, roundDuration(end.Sub(start)), len(v.Spans), failed, strings.Join(apps, ", "))
	if v.Hidden > 0 {
		fmt.Fprintf(tw, " (%d spans of apps this token may not read left out)", v.Hidden)
	}
	fmt.Fprintln(tw)

	// the tree as rows: a span's row has every column, a log line's runs on after the tree
	type row struct {
		at, took, tree, status, details string
		failed, log                     bool
	}
	byID := map[string]bool{}
	for _, s := range v.Spans {
		byID[s.SpanID] = true
	}
	children := map[string][]v1.Span{}
	var roots []v1.Span
	for _, s := range v.Spans {
		if s.ParentID == "" || !byID[s.ParentID] {
			roots = append(roots, s)
		} else {
			children[s.ParentID] = append(children[s.ParentID], s)
		}
	}
	lines := attachLogs(v)
	p := logPrinter{color: color}
	var rows []row
	var walk func(s v1.Span, branch, next string)
	walk = func(s v1.Span, branch, next string) {
		rows = append(rows, row{at: "+" + roundDuration(s.Start.Sub(start)), took: roundDuration(time.Duration(s.Duration)),
			tree: branch + s.Service + " " + s.Name, status: spanStatus(s), details: spanDetails(s), failed: s.Error})
		type item struct {
			at   time.Time
			span *v1.Span
			line *v1.LogLine
		}
		var items []item
		for i := range children[s.SpanID] {
			items = append(items, item{at: children[s.SpanID][i].Start, span: &children[s.SpanID][i]})
		}
		for i := range lines[s.SpanID] {
			items = append(items, item{at: lines[s.SpanID][i].At, line: &lines[s.SpanID][i]})
		}
		slices.SortStableFunc(items, func(a, b item) int { return a.at.Compare(b.at) })
		for i, it := range items {
			last := i == len(items)-1
			if it.span != nil {
				if last {
					walk(*it.span, next+"└─ ", next+"   ")
				} else {
					walk(*it.span, next+"├─ ", next+"│  ")
				}
				continue
			}
			mark := "├┄ "
			if last {
				mark = "└┄ "
			}
			rows = append(rows, row{at: "+" + roundDuration(it.line.At.Sub(start)), tree: next + mark + p.paint(ansiDim, it.line.Instance) + " " + logText(p, it.line.Text), log: true})
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	widths := [3]int{len("START"), len("DURATION"), len("SPAN")}
	for _, r := range rows {
		widths[0] = max(widths[0], len(r.at))
		widths[1] = max(widths[1], len(r.took))
		if !r.log {
			widths[2] = max(widths[2], utf8.RuneCountInString(r.tree))
		}
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s))) }
	fmt.Fprintln(tw, strings.TrimRight(pad("START", widths[0])+"  "+pad("DURATION", widths[1])+"  "+pad("SPAN", widths[2])+"  STATUS  DETAILS", " "))
	for _, r := range rows {
		line := pad(r.at, widths[0]) + "  " + pad(r.took, widths[1]) + "  "
		if r.log {
			line += r.tree
		} else {
			st := pad(r.status, len("STATUS"))
			if r.failed && color {
				st = ansiRed + st + ansiReset
			}
			line += pad(r.tree, widths[2]) + "  " + st + "  " + r.details
		}
		fmt.Fprintln(tw, strings.TrimRight(line, " "))
	}
	if rest := lines[""]; len(rest) > 0 {
		fmt.Fprintln(tw, "log lines of the trace outside its spans:")
		for _, l := range rest {
			fmt.Fprintln(tw, pad("+"+roundDuration(l.At.Sub(start)), widths[0])+"  "+l.Instance+" "+logText(p, l.Text))
		}
	}
}

// logText is a log line as tend logs prints its message, without the trace's own ids.
func logText(p logPrinter, text string) string {
	fields, ok := jsonFields(text)
	if !ok {
		return text
	}
	fields = slices.DeleteFunc(fields, func(f logField) bool { return f.key == "trace_id" || f.key == "span_id" })
	return p.message(fields)
}

// attachLogs gives each log line to the span it was written in: of the spans of its app
// (the gateway's aside), the latest-starting one whose time holds it, else the nearest
// within a few milliseconds (an instance logs a request once its span ended; clocks of
// two processes differ a little); "" for none.
func attachLogs(v traceView) map[string][]v1.LogLine {
	out := map[string][]v1.LogLine{}
	const slack = 5 * time.Millisecond
	for _, l := range v.Logs {
		best, bestOff := -1, time.Duration(0)
		for i, s := range v.Spans {
			if s.App != l.App || s.Service == "tend-gateway" {
				continue
			}
			end := s.Start.Add(time.Duration(s.Duration))
			var off time.Duration // how far outside the span the line is
			switch {
			case l.At.Before(s.Start):
				off = s.Start.Sub(l.At)
			case l.At.After(end):
				off = l.At.Sub(end)
			}
			if off > slack {
				continue
			}
			if best < 0 || off < bestOff || off == bestOff && s.Start.After(v.Spans[best].Start) {
				best, bestOff = i, off
			}
		}
		key := ""
		if best >= 0 {
			key = v.Spans[best].SpanID
		}
		out[key] = append(out[key], l)
	}
	return out
}

// spanStatus is a span's HTTP status, or ok / error.
func spanStatus(s v1.Span) string {
	if code, ok := s.Attributes["http.response.status_code"].(float64); ok && code > 0 {
		return fmt.Sprintf("%d", int(code))
	}
	if s.Error {
		return "error"
	}
	return "ok"
}

// spanDetails are the attributes worth a glance: where the gateway sent the request and
// how long the instance took, a handler's route, why a span failed.
func spanDetails(s v1.Span) string {
	var parts []string
	a := s.Attributes
	if rev, ok := a["tend.revision"].(float64); ok {
		parts = append(parts, fmt.Sprintf("revision %d", int(rev)))
	}
	if in, ok := a["tend.instance"].(string); ok {
		parts = append(parts, "instance "+in)
	}
	if ms, ok := a["tend.upstream.duration_ms"].(float64); ok {
		parts = append(parts, "upstream "+roundDuration(time.Duration(ms*float64(time.Millisecond))))
	}
	if n, ok := a["tend.retries"].(float64); ok && n > 0 {
		parts = append(parts, fmt.Sprintf("retried %d", int(n)))
	}
	if in, ok := s.Resource["service.instance.id"].(string); ok {
		parts = append(parts, "instance "+in)
	}
	if u, ok := a["url.full"].(string); ok {
		parts = append(parts, u)
	} else if p, ok := a["url.path"].(string); ok && s.Service != "tend-gateway" && !strings.Contains(s.Name, p) {
		parts = append(parts, p)
	}
	if s.Message != "" {
		parts = append(parts, s.Message)
	}
	return strings.Join(parts, ", ")
}

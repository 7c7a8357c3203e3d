package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/api/v1"
)

func newLogsCmd(g *globals) *cobra.Command {
	var (
		q          api.LogQuery
		timestamps bool
		format     string
		traceID    string
	)
	cmd := &cobra.Command{
		Use:   "logs APP | logs --trace ID [APP]",
		Short: "Print an app's instance logs (stdout and stderr), merged by time",
		Long: `Print an app's instance logs (stdout and stderr), merged by time, as
TIME INSTANCE MESSAGE. For slog JSON lines the message is "msg" and the other
fields as key=value (the level when it is not INFO); other lines are printed as
they are. -o json prints one JSON object a line instead: at, instance, revision,
text (the raw line) and, for a JSON line, its fields.

The filters run on the server, before --tail counts: --tail N is the last N lines
in total across instances (0 with -f: only new ones). Instances that no longer run
are left out unless --all (or --instance names one); --previous prints only theirs:
what a crashed or replaced instance said before it exited.

--trace ID prints the lines that carry a trace id (kit's trace_id field) in every
app's logs, current and rotated, instances running or not: the server keeps an
index of its logs by trace, so this reads a few chunks, not every log.`,
		Example: `  tend logs hello -f
  tend logs hello --since 10m --level warn
  tend logs hello --revision 3 --grep 'status=5\d\d' --tail 20
  tend logs hello --previous --tail 50          # why did the last instances exit?
  tend logs hello -o json | jq -r 'select(.fields.level == "ERROR") | .text'
  tend logs --trace 0af7651916cd43dd8448eb211c80319c   # every app's lines of one request`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			invalid := func(err error) error { return &exitCodeError{code: exitInvalid, err: err} }
			if format != "text" && format != "json" {
				return invalid(fmt.Errorf("unknown output format %q: want text or json", format))
			}
			w := cmd.OutOrStdout()
			p := logPrinter{w: w, timestamps: timestamps, color: colorful(w)}
			print := p.text
			if format == "json" {
				print = p.json
			}
			if traceID != "" {
				return traceLogLines(cmd, g, traceID, args, print)
			}
			if len(args) != 1 {
				return invalid(fmt.Errorf("tend logs needs an app (tend apps lists them), or --trace ID for one trace's lines across apps"))
			}
			now := time.Now()
			if _, err := api.LogTime("--since", q.Since, now); err != nil {
				return invalid(err)
			}
			if _, err := api.LogTime("--until", q.Until, now); err != nil {
				return invalid(err)
			}
			if _, err := regexp.Compile(q.Grep); err != nil {
				return invalid(fmt.Errorf("--grep: %w", err))
			}
			if q.Previous && (q.All || q.Follow) {
				return invalid(fmt.Errorf("--previous prints the instances that no longer run: not with --all (every instance) or -f (they write no new lines)"))
			}
			if q.Level != "" {
				if _, err := api.LogLevel(q.Level); err != nil {
					return invalid(err)
				}
			}
			if !cmd.Flags().Changed("tail") && (q.Since != "" || q.Until != "") {
				q.Tail = -1 // a time range: all of it
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			return c.Logs(cmd.Context(), args[0], q, print)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&q.Follow, "follow", "f", false, "keep printing new lines")
	f.StringVar(&q.Instance, "instance", "", "only this instance (running or not)")
	f.IntVar(&q.Revision, "revision", 0, "only the instances of this revision")
	f.IntVar(&q.Tail, "tail", 100, "the last lines to start with, in total across instances (0: none, -1: all; default all with --since or --until)")
	f.StringVar(&q.Since, "since", "", "only lines since this time: a duration before now (10m, 2h) or RFC 3339")
	f.StringVar(&q.Until, "until", "", "only lines until this time: a duration before now or RFC 3339 (with -f: stop then)")
	f.StringVar(&q.Grep, "grep", "", "only lines this Go regular expression matches, on the raw line")
	f.StringVar(&q.Level, "level", "", "only slog JSON lines of this level or above: debug, info, warn, error")
	f.BoolVar(&q.All, "all", false, "include instances that no longer run")
	f.BoolVar(&q.Previous, "previous", false, "only instances that no longer run (exited, crashed or replaced)")
	f.StringVar(&traceID, "trace", "", "only the lines that carry this trace id (32 hex digits, or a whole traceparent), of every app (or APP), running or not")
	f.BoolVar(&timestamps, "timestamps", false, "print times in full, RFC 3339, instead of the local time of day")
	f.StringVarP(&format, "output", "o", "text", "output format: text or json (one object a line)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// traceLogLines prints the lines of one trace, across apps or of args[0]. The other
// filters do not apply: a trace's lines are all wanted.
func traceLogLines(cmd *cobra.Command, g *globals, id string, args []string, print func(v1.LogLine) error) error {
	for _, name := range []string{"follow", "instance", "revision", "tail", "since", "until", "grep", "level", "all", "previous"} {
		if cmd.Flags().Changed(name) {
			return &exitCodeError{code: exitInvalid, err: fmt.Errorf("--trace prints every line of the trace, of instances running or not: not with --%s", name)}
		}
	}
	id = traceIDArg(id)
	app := ""
	if len(args) == 1 {
		app = args[0]
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	lines, err := c.TraceLogs(cmd.Context(), id, app)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := print(l); err != nil {
			return err
		}
	}
	return nil
}

// colorful reports whether w is a terminal and NO_COLOR is unset.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && term.IsTerminal(int(f.Fd()))
}

type logPrinter struct {
	w                 io.Writer
	timestamps, color bool
}

const (
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiReset  = "\x1b[0m"
)

func (p logPrinter) paint(code, s string) string {
	if !p.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

// text prints TIME INSTANCE MESSAGE.
func (p logPrinter) text(l v1.LogLine) error {
	at := l.At.Local().Format("15:04:05.000")
	if p.timestamps {
		at = l.At.Local().Format("2006-01-02T15:04:05.000Z07:00")
	}
	msg := l.Text
	if fields, ok := jsonFields(l.Text); ok {
		msg = p.message(fields)
	}
	_, err := fmt.Fprintf(p.w, "%s  %s  %s\n", p.paint(ansiDim, at), p.paint(ansiDim, l.Instance), msg)
	return err
}

// message is a slog JSON line's level (when not INFO), msg, and other fields as key=value.
func (p logPrinter) message(fields []logField) string {
	var b strings.Builder
	var level, msg string
	var rest []logField
	for _, f := range fields {
		switch f.key {
		case "time":
		case "level":
			level = f.str
		case "msg":
			msg = f.str
		default:
			rest = append(rest, f)
		}
	}
	if level != "" && level != "INFO" {
		code := ansiBlue
		switch {
		case strings.HasPrefix(level, "ERROR"):
			code = ansiRed
		case strings.HasPrefix(level, "WARN"):
			code = ansiYellow
		}
		b.WriteString(p.paint(code, level) + " ")
	}
	b.WriteString(msg)
	for _, f := range rest {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.paint(ansiDim, f.key+"=") + f.value)
	}
	return b.String()
}

// json prints one NDJSON object: the line and, for a JSON one, its fields.
func (p logPrinter) json(l v1.LogLine) error {
	out := struct {
		At       time.Time       `json:"at"`
		App      string          `json:"app,omitempty"`
		Instance string          `json:"instance"`
		Revision int             `json:"revision,omitempty"`
		Text     string          `json:"text"`
		Fields   json.RawMessage `json:"fields,omitempty"`
	}{At: l.At, App: l.App, Instance: l.Instance, Revision: l.Revision, Text: l.Text}
	if t := strings.TrimSpace(l.Text); strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		out.Fields = json.RawMessage(t)
	}
	enc := json.NewEncoder(p.w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// logField is one field of a JSON line: its value as key=value prints it, and a
// string value as it is.
type logField struct{ key, value, str string }

// jsonFields returns the fields of a JSON object line in their order, nested objects
// (slog groups) flattened as group.key; false for other lines.
func jsonFields(text string) ([]logField, bool) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "{") || !json.Valid([]byte(t)) {
		return nil, false
	}
	var out []logField
	if err := flatten(json.RawMessage(t), "", &out); err != nil {
		return nil, false
	}
	return out, true
}

func flatten(obj json.RawMessage, prefix string, out *[]logField) error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		switch raw[0] {
		case '{':
			if err := flatten(raw, prefix+key+".", out); err != nil {
				return err
			}
			continue
		case '"':
			var s string
			_ = json.Unmarshal(raw, &s)
			*out = append(*out, logField{prefix + key, quoteIfNeeded(s), s})
		default:
			var b bytes.Buffer
			_ = json.Compact(&b, raw)
			*out = append(*out, logField{prefix + key, b.String(), b.String()})
		}
	}
	return nil
}

// quoteIfNeeded quotes a value that would not read back as one key=value word.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " =\"\t\n\r\\") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

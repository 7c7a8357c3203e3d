package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
	"k8s.io/client-go/util/jsonpath"
)

// outputHelp is the -o flag's help, the same on every command with a result.
const outputHelp = "output format: table, wide (more columns), json, yaml, jsonpath=EXPR or go-template=TEMPLATE (on the JSON form's field names)"

// addOutputFlag adds -o to a command with a result.
func addOutputFlag(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVarP(&g.output, "output", "o", "table", outputHelp)
}

// table is the human form's writer: tab-separated columns, with Wide set for -o wide,
// where a listing adds the columns it leaves out at 80 columns.
type table struct {
	*tabwriter.Writer
	Wide bool
}

// machineFormat says whether format prints the result for a program (everything but
// table and wide): then progress and notes go to stderr.
func machineFormat(format string) bool {
	return format != "" && format != "table" && format != "wide"
}

// checkFormat refuses an output format render does not know, before anything is done.
func checkFormat(format string) error {
	switch name, _, _ := strings.Cut(format, "="); name {
	case "", "table", "wide", "json", "yaml":
		return nil
	case "jsonpath", "go-template":
		if _, expr, _ := strings.Cut(format, "="); expr != "" {
			return nil // the expression is checked when it runs
		}
	}
	return &exitCodeError{code: exitInvalid, err: fmt.Errorf("unknown output format %q: want table, wide, json, yaml, jsonpath=EXPR or go-template=TEMPLATE", format)}
}

// render prints v in format: JSON or YAML (the API's wire form), a jsonpath or Go
// template over that form, or the human table (wide or not) that table writes.
func render(w io.Writer, format string, v any, tableFn func(tw *table)) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	name, expr, _ := strings.Cut(format, "=")
	switch name {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	case "yaml":
		generic, err := wireForm(v) // YAML keys are the same camelCase names as the JSON ones
		if err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		return enc.Encode(generic)
	case "jsonpath":
		generic, err := wireForm(v)
		if err != nil {
			return err
		}
		jp := jsonpath.New("output")
		if err := jp.Parse(expr); err != nil {
			return &exitCodeError{code: exitInvalid, err: fmt.Errorf("-o jsonpath=%s: %w (as kubectl: '{.field}', '{[*].app}', '{range [*]}{.app}{\"\\n\"}{end}')", expr, err)}
		}
		if err := jp.Execute(w, generic); err != nil {
			return &exitCodeError{code: exitInvalid, err: fmt.Errorf("-o jsonpath=%s: %w (-o json shows the field names)", expr, err)}
		}
		_, err = fmt.Fprintln(w)
		return err
	case "go-template":
		generic, err := wireForm(v)
		if err != nil {
			return err
		}
		tpl, err := template.New("output").Option("missingkey=error").Parse(expr)
		if err != nil {
			return &exitCodeError{code: exitInvalid, err: fmt.Errorf("-o go-template: %w", err)}
		}
		if err := tpl.Execute(w, generic); err != nil {
			return &exitCodeError{code: exitInvalid, err: fmt.Errorf("-o go-template: %w (-o json shows the field names)", err)}
		}
		return nil
	}
	tw := &table{Writer: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0), Wide: name == "wide"}
	tableFn(tw)
	return tw.Flush()
}

// wireForm is v as its JSON decodes into maps and slices: what YAML, jsonpath and
// templates read, with the JSON form's names.
func wireForm(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	return generic, nil
}

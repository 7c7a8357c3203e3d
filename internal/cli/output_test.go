package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/store"
)

func TestRenderFormats(t *testing.T) {
	v := []store.Revision{{App: "hello", Number: 2, ConfigHash: "abc"}}
	table := func(tw *table) {
		fmt.Fprintln(tw, "REVISION\tAPP")
		fmt.Fprintf(tw, "%d\t%s\n", v[0].Number, v[0].App)
	}
	var b bytes.Buffer
	if err := render(&b, "yaml", v, table); err != nil || !strings.Contains(b.String(), "configHash: abc") || !strings.Contains(b.String(), "number: 2") {
		t.Fatalf("yaml: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := render(&b, "json", v, table); err != nil || !strings.Contains(b.String(), `"configHash": "abc"`) {
		t.Fatalf("json: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := render(&b, "table", v, table); err != nil || !strings.HasPrefix(b.String(), "REVISION  APP\n2         hello") {
		t.Fatalf("table: %v\n%q", err, b.String())
	}
	b.Reset()
	if err := render(&b, "jsonpath={[*].number} {[0].app}", v, table); err != nil || b.String() != "2 hello\n" {
		t.Fatalf("jsonpath: %v\n%q", err, b.String())
	}
	b.Reset()
	if err := render(&b, `go-template={{range .}}{{.app}}:{{.number}}{{"\n"}}{{end}}`, v, table); err != nil || b.String() != "hello:2\n" {
		t.Fatalf("go-template: %v\n%q", err, b.String())
	}
	if err := render(&b, "go-template={{.nothing}}", v, table); err == nil {
		t.Fatalf("a template naming no field printed %q", b.String())
	}
	if err := render(&b, "jsonpath={.[", v, table); err == nil || !strings.Contains(err.Error(), "-o jsonpath={.[") {
		t.Fatalf("a jsonpath that does not parse: %v", err)
	}
	if err := render(&b, "xml", v, table); err == nil || !strings.Contains(err.Error(), "want table, wide, json, yaml, jsonpath=EXPR or go-template=TEMPLATE") {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range newRoot().Commands() {
		if c.Short == "" {
			t.Errorf("command %s has no short help", c.Name())
		}
	}
}

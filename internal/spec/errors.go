package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one problem in a spec, with where it is.
type FieldError struct {
	File  string
	Line  int // 0 when the position is unknown (a spec built in code)
	Col   int
	Field string // dotted path, e.g. strategy.rolling.maxSurge
	Msg   string
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		if strings.ContainsAny(e.Field, "\r\n") {
			b.WriteString(strconv.Quote(e.Field)) // a key with a line break stays on its line
		} else {
			b.WriteString(e.Field)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one spec, in file order.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
	return es
}

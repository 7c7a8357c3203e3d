// Package yamldoc reads YAML documents into Go values with errors that name the file, line, column and field.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a YAML file, with where it is.
type Error struct {
	File string
	Line int // 0 when the position is unknown
	Col  int
	// Field is the path of the field, like strategy.canary.steps[1].weight ("" when the
	// message names what it is about).
	Field string
	Msg   string
	// Err is the cause, if any (the YAML decoder's error, or what Errorf wrapped with %w).
	Err error
}

// Error is "file:line:col: field: msg", without the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, "%d:", e.Col)
		}
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

func (e *Error) Unwrap() error { return e.Err }

// Errors are the problems found in one file, one a line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As each Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sort puts es in file order (errors without a position first), keeping the order of
// errors at one position.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

// ErrSecondDocument is the cause of the error Parse returns for a file with a second
// document after ---, which no caller would read.
var ErrSecondDocument = errors.New("a second YAML document")

// Doc is one YAML document, for finding where its fields are written.
type Doc struct {
	File string
	// Root is the document's top node (nil when the file holds no document: it is empty or
	// only comments).
	Root *yaml.Node
}

// Parse reads the one YAML document in src; file names it in errors. A syntax error
// or a second document fails with Errors.
func Parse(file string, src []byte) (*Doc, error) {
	d := &Doc{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return d, nil
		}
		return nil, d.parseError(src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: file, Line: extra.Line, Col: extra.Column, Err: ErrSecondDocument,
			Msg: "a second YAML document (---): the file holds one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, d.parseError(src, err)
	}
	d.Root = &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		d.Root = doc.Content[0]
	}
	return d, nil
}

// Decode parses src as Parse does and decodes it into v, refusing fields that v does
// not have. Every problem fails with Errors at its position; an empty document leaves v
// as it is.
func Decode(file string, src []byte, v any) (*Doc, error) {
	d, err := Parse(file, src)
	if err != nil || d.Root == nil {
		return d, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return nil, d.Wrap(err)
	}
	return d, nil
}

// Key in a path stands for a mapping key itself rather than its value, for errors
// about a name rather than what it is set to.
type Key string

// At is where path is written: strings are mapping keys, ints sequence indexes, a Key
// a key itself (as the last element). When path is absent, At is where its nearest
// written parent is; 0, 0 without a document.
func (d *Doc) At(path ...any) (line, col int) {
	if d == nil || d.Root == nil {
		return 0, 0
	}
	n := d.Root
	for _, p := range path {
		next := child(n, p)
		if next == nil {
			break
		}
		n = next
	}
	return n.Line, n.Column
}

// Errorf is an error at path (see At) with path as its Field; %w wraps as fmt.Errorf
// does. A nil Doc gives an error without file or position, for values built in code.
func (d *Doc) Errorf(path []any, format string, args ...any) *Error {
	msg := fmt.Errorf(format, args...)
	e := &Error{Field: fieldName(path), Msg: msg.Error()}
	switch m := msg.(type) {
	case interface{ Unwrap() error }:
		e.Err = m.Unwrap()
	case interface{ Unwrap() []error }:
		e.Err = errors.Join(m.Unwrap()...)
	}
	if d != nil {
		e.File = d.File
		e.Line, e.Col = d.At(path...)
	}
	return e
}

// fieldName writes path as errors name a field: route.hosts[0].
func fieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		default:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			fmt.Fprint(&b, p)
		}
	}
	return b.String()
}

func child(n *yaml.Node, p any) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch p := p.(type) {
	case string:
		return entry(n, p, 1)
	case Key:
		return entry(n, string(p), 0)
	case int:
		if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
			return n.Content[p]
		}
	}
	return nil
}

// entry is the key (at 0) or the value (at 1) of key in mapping n, or nil.
func entry(n *yaml.Node, key string, at int) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+at]
		}
	}
	return nil
}

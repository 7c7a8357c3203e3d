package yamldoc

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Wrap turns err, from a YAML decoder that read d's text, into Errors at the nodes its
// "line N: ..." texts name, with their column and field. It reads the texts of yaml.v3
// and of yaml.v2 (Alertmanager's parser); an error without a line becomes one Error
// without a position.
func (d *Doc) Wrap(err error) Errors {
	file := ""
	if d != nil {
		file = d.File
	}
	text := err.Error()
	var lines []string
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		lines = te.Errors
	case strings.HasPrefix(text, "yaml: unmarshal errors:\n"):
		for _, l := range strings.Split(strings.TrimPrefix(text, "yaml: unmarshal errors:\n"), "\n") {
			lines = append(lines, strings.TrimSpace(l))
		}
	case strings.HasPrefix(text, "yaml: "):
		return Errors{syntaxError(file, strings.TrimPrefix(text, "yaml: "), err)}
	default:
		return Errors{{File: file, Msg: text, Err: err}}
	}
	var es Errors
	used := map[*yaml.Node]bool{}
	nodes := d.nodes()
	for _, l := range lines {
		e := &Error{File: file, Msg: l, Err: err}
		if m := lineRE.FindStringSubmatch(l); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
			e.Col = 1
			if n := locate(nodes, e.Line, e.Msg, used); n != nil {
				e.Col, e.Field = n.node.Column, fieldName(n.path)
			}
		}
		es = append(es, e)
	}
	es.Sort()
	return es
}

var lineRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)

// syntaxError places a syntax error at its line. yaml.v3 counts the lines of the
// parser's errors (as opposed to the scanner's) from 0, and leaves line 1 (0) out.
func syntaxError(file, problem string, err error) *Error {
	line := 0
	if m := lineRE.FindStringSubmatch(problem); m != nil {
		line, _ = strconv.Atoi(m[1])
		problem = m[2]
	}
	switch {
	case parserProblems[problem]:
		line++
	case line == 0 && slices.ContainsFunc(scannerProblems, func(p string) bool { return strings.HasPrefix(problem, p) }):
		line = 1
	}
	e := &Error{File: file, Line: line, Msg: "not valid YAML: " + problem, Err: err}
	if line > 0 {
		e.Col = 1 // yaml.v3 does not say the column
	}
	return e
}

// parseError is err, yaml.v3's failure to parse src, at the line where src fails. For
// a parser error yaml.v3 names the line where the mapping or list it failed in began;
// as it parses from the top, the line that fails is the first after which src, cut
// there, fails alike.
func (d *Doc) parseError(src []byte, err error) Errors {
	es := d.Wrap(err)
	if from := es[0].Line; from > 0 {
		lines := bytes.SplitAfter(src, []byte("\n"))
		if from <= len(lines) {
			es[0].Line = from + sort.Search(len(lines)-from, func(i int) bool {
				cut := parseAll(bytes.Join(lines[:from+i], nil))
				return cut != nil && cut.Error() == err.Error()
			})
		}
	}
	return es
}

// parseAll is the error of parsing every document in src, if any.
func parseAll(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// parserProblems are the errors of yaml.v3's parser (parserc.go).
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// scannerProblems begin the errors of yaml.v3's scanner (scannerc.go); the reader's
// (invalid UTF-8) and the decoder's (an unknown anchor) say nothing of their line.
var scannerProblems = []string{"did not find ", "could not find ", "found ", "mapping keys ", "mapping values ", "block sequence ", "exceeded max depth"}

type located struct {
	node *yaml.Node
	path []any
	key  bool
}

// nodes are every node of the document with its path, in document order.
func (d *Doc) nodes() []located {
	if d == nil || d.Root == nil {
		return nil
	}
	var out []located
	var walk func(n *yaml.Node, path []any)
	walk = func(n *yaml.Node, path []any) {
		out = append(out, located{node: n, path: path})
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := append(slices.Clip(path), n.Content[i].Value)
				out = append(out, located{node: n.Content[i], path: p, key: true})
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, append(slices.Clip(path), i))
			}
		}
	}
	walk(d.Root, nil)
	return out
}

var (
	fieldRE = regexp.MustCompile(`^field (.+) (?:not found|already set) in type `)
	keyRE   = regexp.MustCompile(`^(?:mapping )?key (.+) already (?:defined at line \d+|set in map)$`)
	typeRE  = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into ")
)

// locate finds the node on line that msg is about: the key it names or the value it
// could not decode, else the first node on the line. A node that an earlier message
// took goes to a later one only when there is no other.
func locate(nodes []located, line int, msg string, used map[*yaml.Node]bool) *located {
	var about func(located) bool
	if m := fieldRE.FindStringSubmatch(msg); m != nil {
		about = func(l located) bool { return l.key && l.node.Value == m[1] }
	} else if m := keyRE.FindStringSubmatch(msg); m != nil {
		name := m[1]
		if s, err := strconv.Unquote(name); err == nil {
			name = s
		}
		about = func(l located) bool { return l.key && l.node.Value == name }
	} else if m := typeRE.FindStringSubmatch(msg); m != nil {
		tag, value := m[1], m[2]
		about = func(l located) bool {
			if l.node.ShortTag() != tag {
				return false
			}
			if short, cut := strings.CutSuffix(value, "..."); cut { // yaml.v3 shortens long values
				return strings.HasPrefix(l.node.Value, short)
			}
			return value == "" || l.node.Value == value
		}
	}
	onLine := func(located) bool { return true }
	for _, match := range []func(located) bool{about, onLine} {
		if match == nil {
			continue
		}
		var taken *located
		for i := range nodes {
			l := &nodes[i]
			if l.node.Line != line || !match(*l) {
				continue
			}
			if !used[l.node] {
				used[l.node] = true
				return l
			}
			if taken == nil {
				taken = l
			}
		}
		if taken != nil {
			return taken
		}
	}
	return nil
}

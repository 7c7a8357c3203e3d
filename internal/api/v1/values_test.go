package v1

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// parsePackage parses this package's non-test files, with their comments.
func parsePackage(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// The values each enum's Values (or Known) method lists are exactly the constants of its
// type in the source: a new constant not added to the list fails here, and so does a new
// enum type without a list.
func TestEveryEnumConstantIsListed(t *testing.T) {
	lists := map[string][]string{}
	for _, e := range []any{Strategy(""), Phase(""), Result(""), CheckResult(""), InstanceState(""), IncidentStatus(""),
		Severity(""), AlertStatus(""), EntryKind(""), RunResult(""), StepKind(""), IncidentAction(""), CertState(""), CertSource(""), Role(""), SpanKind("")} {
		v := reflect.ValueOf(e)
		m := v.MethodByName("Values")
		if !m.IsValid() {
			m = v.MethodByName("Known")
		}
		if !m.IsValid() {
			t.Errorf("%T has neither a Values nor a Known method", e)
			continue
		}
		out := m.Call(nil)[0]
		for i := range out.Len() {
			lists[v.Type().Name()] = append(lists[v.Type().Name()], out.Index(i).String())
		}
	}

	_, files := parsePackage(t)
	consts := map[string][]string{} // type name → the values of its constants, in source order
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				typ, ok := vs.Type.(*ast.Ident)
				if !ok {
					continue // untyped: not an enum's
				}
				for _, val := range vs.Values {
					lit, ok := val.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("a constant of %s is not a string literal", typ.Name)
					}
					s, _ := strconv.Unquote(lit.Value)
					consts[typ.Name] = append(consts[typ.Name], s)
				}
			}
		}
	}
	for typ, want := range consts {
		got, ok := lists[typ]
		if !ok {
			t.Errorf("%s has constants %q but no Values method (or it is missing from this test)", typ, want)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s lists %q, its constants are %q (in source order)", typ, got, want)
		}
	}
	for typ := range lists {
		if _, ok := consts[typ]; !ok {
			t.Errorf("%s has a list of values but no constants", typ)
		}
	}
}

package yamldoc

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

type config struct {
	Name    string        `yaml:"name"`
	Timeout time.Duration `yaml:"timeout"`
	Steps   []struct {
		Run   string `yaml:"run"`
		Retry int    `yaml:"retry"`
	} `yaml:"steps"`
}

// decodeErr is what a user sees for src, as config.yaml.
func decodeErr(t *testing.T, src string) string {
	t.Helper()
	var c config
	_, err := Decode("config.yaml", []byte(src), &c)
	if err == nil {
		t.Fatalf("%q decoded without error: %+v", src, c)
	}
	return err.Error()
}

func TestDecodeNamesFileLineColumnAndField(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unknown field": {
			"name: a\nsteps:\n- run: x\n  colour: red\n",
			"config.yaml:4:3: steps[0].colour: field colour not found in type struct { Run string \"yaml:\\\"run\\\"\"; Retry int \"yaml:\\\"retry\\\"\" }",
		},
		"wrong type": {
			"name: a\nsteps:\n- {run: x, retry: often}\n",
			"config.yaml:3:19: steps[0].retry: cannot unmarshal !!str `often` into int",
		},
		"wrong type, long value": {
			"name: a\ntimeout: in a little while\n",
			"config.yaml:2:10: timeout: cannot unmarshal !!str `in a li...` into time.Duration",
		},
		"a list for a string": {
			"name: [a, b]\n",
			"config.yaml:1:7: name: cannot unmarshal !!seq into string",
		},
		"key twice": {
			"name: a\ntimeout: 1s\nname: b\n",
			"config.yaml:3:1: name: mapping key \"name\" already defined at line 1",
		},
		"syntax error on line 2": {
			"name: a\nsteps: [x\n",
			"config.yaml:2:1: not valid YAML: did not find expected ',' or ']'",
		},
		"block mapping broken on line 3": {
			"steps:\n  run: x\n retry: 1\n",
			"config.yaml:3:1: not valid YAML: did not find expected key",
		},
		"misindented key on line 4": { // yaml.v3 says line 1: where the mapping began, counted from 0
			"name: a\nsteps:\n- run: x\n retry: 1\n",
			"config.yaml:4:1: not valid YAML: did not find expected key",
		},
		"unclosed list": { // yaml.v3 says line 1: where the list began, counted from 0
			"name: a\nsteps: [x,\n  y\ntimeout: 1s\n",
			"config.yaml:3:1: not valid YAML: did not find expected ',' or ']'",
		},
		"syntax error in the second document": {
			"name: a\n---\nname: b\n- c\n",
			"config.yaml:4:1: not valid YAML: did not find expected key",
		},
		"scanner error on line 2": {
			"name: a\n  timeout: 1s\n",
			"config.yaml:2:1: not valid YAML: mapping values are not allowed in this context",
		},
		"syntax error on line 1": {
			"name: @a\n",
			"config.yaml:1:1: not valid YAML: found character that cannot start any token",
		},
		"second document": {
			"name: a\n---\nname: b\n",
			"config.yaml:2:1: a second YAML document (---): the file holds one",
		},
		"unknown anchor": {
			"name: *x\n",
			"config.yaml: not valid YAML: unknown anchor 'x' referenced",
		},
	} {
		t.Run(name, func(t *testing.T) {
			if got := decodeErr(t, tc.src); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestEveryDecodeErrorIsReportedInFileOrder(t *testing.T) {
	got := decodeErr(t, "steps:\n- {run: x, retry: a}\n- {run: y, retry: b}\ntimeout: soon\n")
	want := "config.yaml:2:19: steps[0].retry: cannot unmarshal !!str `a` into int\n" +
		"config.yaml:3:19: steps[1].retry: cannot unmarshal !!str `b` into int\n" +
		"config.yaml:4:10: timeout: cannot unmarshal !!str `soon` into time.Duration"
	if got != want {
		t.Errorf("errors:\n got %s\nwant %s", got, want)
	}
	// two bad values on one line are each found where they are
	got = decodeErr(t, "steps: [{retry: a}, {retry: a}]\n")
	want = "config.yaml:1:17: steps[0].retry: cannot unmarshal !!str `a` into int\n" +
		"config.yaml:1:29: steps[1].retry: cannot unmarshal !!str `a` into int"
	if got != want {
		t.Errorf("errors:\n got %s\nwant %s", got, want)
	}
}

func TestEmptyDocumentDecodesToNothing(t *testing.T) {
	for _, src := range []string{"", "# nothing yet\n"} {
		c := config{Name: "kept"}
		d, err := Decode("config.yaml", []byte(src), &c)
		if err != nil || d.Root != nil || c.Name != "kept" {
			t.Errorf("%q: doc %+v, err %v, config %+v; want no root, no error and the value untouched", src, d, err, c)
		}
		if line, col := d.At("name"); line != 0 || col != 0 {
			t.Errorf("%q: At(name) = %d:%d in no document", src, line, col)
		}
	}
}

const doc = `name: a
steps:
- run: x
  retry: 1
- &second {run: y}
env:
  LEVEL: debug
again: *second
`

func TestAtFindsAFieldOrItsNearestParent(t *testing.T) {
	d, err := Parse("config.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path      []any
		line, col int
	}{
		{nil, 1, 1},
		{[]any{"steps", 0, "retry"}, 4, 10},
		{[]any{"steps", 1}, 5, 3},
		{[]any{"steps", 1, "run"}, 5, 17},
		{[]any{"steps", 1, "retry"}, 5, 3},         // a missing key: its mapping
		{[]any{"steps", 7, "run"}, 3, 1},           // a missing index: its list
		{[]any{"timeout"}, 1, 1},                   // a missing top-level key: the document
		{[]any{"env", "LEVEL"}, 7, 10},             // the value
		{[]any{"env", Key("LEVEL")}, 7, 3},         // the key itself
		{[]any{"again", "run"}, 5, 17},             // through an alias, where the anchor is
		{[]any{"name", "first", "letter"}, 1, 7},   // below a scalar: the scalar
		{[]any{"steps", "run"}, 3, 1},              // a key in a list: the list
		{[]any{"steps", 0, 1.5}, 3, 3},             // what is not a key or index: the parent
		{[]any{"env", Key("LEVEL"), "x"}, 7, 3},    // below a key: the key
		{[]any{"steps", -1}, 3, 1},                 // a negative index: the list
		{[]any{"again"}, 8, 8},                     // an alias: where it is written
		{[]any{"steps", 0, Key("retry")}, 4, 3},    // a key in a list item
		{[]any{"env", Key("MISSING")}, 7, 3},       // a missing key: its mapping
		{[]any{"steps", 0, "run", Key("x")}, 3, 8}, // a Key below a scalar: the scalar
	} {
		if line, col := d.At(tc.path...); line != tc.line || col != tc.col {
			t.Errorf("At(%v) = %d:%d, want %d:%d", tc.path, line, col, tc.line, tc.col)
		}
	}
}

func TestErrorfNamesThePathAndWrapsItsCause(t *testing.T) {
	d, err := Parse("config.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e := d.Errorf([]any{"steps", 1, "retry"}, "want at least 1, got %d", 0)
	if got, want := e.Error(), "config.yaml:5:3: steps[1].retry: want at least 1, got 0"; got != want {
		t.Errorf("missing field:\n got %s\nwant %s", got, want)
	}
	e = d.Errorf([]any{"env", Key("LEVEL")}, "not allowed")
	if got, want := e.Error(), "config.yaml:7:3: env.LEVEL: not allowed"; got != want {
		t.Errorf("key:\n got %s\nwant %s", got, want)
	}
	e = d.Errorf([]any{"name"}, "cannot read it: %w", fs.ErrNotExist)
	if !errors.Is(e, fs.ErrNotExist) || e.Msg != "cannot read it: file does not exist" {
		t.Errorf("wrapped cause: %v (Is ErrNotExist: %v)", e, errors.Is(e, fs.ErrNotExist))
	}
	var none *Doc
	if got, want := none.Errorf([]any{"steps", 0}, "bad").Error(), "steps[0]: bad"; got != want {
		t.Errorf("without a document:\n got %s\nwant %s", got, want)
	}
	if got, want := (&Error{Field: "a\nb", Msg: "bad"}).Error(), `"a\nb": bad`; got != want {
		t.Errorf("a field with a line break: got %s, want %s", got, want)
	}
}

func TestErrorsAreFoundWithErrorsAs(t *testing.T) {
	_, err := Parse("config.yaml", []byte("a: 1\n---\nb: 2\n"))
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || !errors.Is(err, ErrSecondDocument) {
		t.Fatalf("err = %#v, want an *Error at line 2 caused by ErrSecondDocument", err)
	}
}

// Alertmanager decodes with yaml.v2, whose errors come as text.
func TestWrapReadsYAMLv2Texts(t *testing.T) {
	d, err := Parse("am.yml", []byte("route:\n  receiver: a\n  colour: red\n"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := errors.New("yaml: unmarshal errors:\n  line 3: field colour not found in type config.plain\n  line 9: something else")
	es := d.Wrap(v2)
	want := "am.yml:3:3: route.colour: field colour not found in type config.plain\nam.yml:9:1: something else"
	if es.Error() != want || !errors.Is(es, v2) {
		t.Errorf("errors:\n got %s\nwant %s", es, want)
	}
	if got := d.Wrap(errors.New(`undefined receiver "b" used in route`)).Error(); got != `am.yml: undefined receiver "b" used in route` {
		t.Errorf("an error without a line: %s", got)
	}
	if got := d.Wrap(errors.New("yaml: unmarshal errors:\n  line 2: key \"receiver\" already set in map")).Error(); got != `am.yml:2:3: route.receiver: key "receiver" already set in map` {
		t.Errorf("yaml.v2's duplicate key: %s", got)
	}
}

func TestErrorWithoutColumn(t *testing.T) {
	if got := (&Error{File: "f", Line: 3, Msg: "bad"}).Error(); got != "f:3: bad" {
		t.Errorf("got %q", got)
	}
	if got := (&Error{Msg: "bad"}).Error(); got != "bad" || strings.HasPrefix(got, " ") {
		t.Errorf("got %q", got)
	}
}

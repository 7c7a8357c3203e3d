package alerting

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// AppRules are the alerting rules an app's spec brings, and whether tend's built-in
// rules apply to it.
type AppRules struct {
	App       string
	NoBuiltin bool
	// Files are rule files' contents as read at deploy time.
	Files [][]byte
}

// CheckRules parses one rule file as the rules manager will; errors name the file.
func CheckRules(name string, content []byte) error {
	_, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", name, errs[i])
	}
	return errors.Join(errs...)
}

// ruleSet writes the rule files for the current apps into dir and returns every file
// the rules manager should load, with a digest of their content.
func ruleSet(dir string, builtin bool, serverFiles []string, apps []AppRules) ([]string, [32]byte, error) {
	h := sha256.New()
	files := append([]string(nil), serverFiles...)
	for _, f := range serverFiles {
		h.Write([]byte(f + "\x00"))
	}
	if err := os.MkdirAll(filepath.Join(dir, "apps"), 0o700); err != nil {
		return nil, [32]byte{}, err
	}
	write := func(name string, b []byte) error {
		path := filepath.Join(dir, name)
		h.Write([]byte(name + "\x00"))
		h.Write(b)
		files = append(files, path)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
			return nil
		}
		return os.WriteFile(path, b, 0o600)
	}
	var excluded []string
	for _, a := range apps {
		if a.NoBuiltin {
			excluded = append(excluded, a.App)
		}
		for i, f := range a.Files {
			b, err := labelApp(f, a.App)
			if err != nil {
				return nil, [32]byte{}, fmt.Errorf("rules of %s: %w", a.App, err)
			}
			if err := write(filepath.Join("apps", fmt.Sprintf("%s-%d.rules.yml", a.App, i)), b); err != nil {
				return nil, [32]byte{}, err
			}
		}
	}
	if builtin {
		b, err := builtinExcept(excluded)
		if err != nil {
			return nil, [32]byte{}, err
		}
		if err := write("builtin.rules.yml", b); err != nil {
			return nil, [32]byte{}, err
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return files, sum, nil
}

// labelApp gives every rule of a file the label app=<app> unless it sets app itself, so
// that its alerts lead to the app's incidents and runbooks.
func labelApp(content []byte, app string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return content, nil
	}
	for _, g := range items(value(doc.Content[0], "groups")) {
		for _, r := range items(value(g, "rules")) {
			if value(r, "alert") == nil {
				continue // a recording rule
			}
			l := value(r, "labels")
			if l == nil {
				l = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				r.Content = append(r.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "labels"}, l)
			}
			if value(l, "app") == nil {
				l.Content = append(l.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "app"},
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: app})
			}
		}
	}
	return yaml.Marshal(&doc)
}

// builtinExcept is BuiltinRules with every series selector restricted to apps not in
// excluded.
func builtinExcept(excluded []string) ([]byte, error) {
	if len(excluded) == 0 {
		return []byte(BuiltinRules), nil
	}
	slices.Sort(excluded)
	quoted := make([]string, len(excluded))
	for i, a := range excluded {
		quoted[i] = regexp.QuoteMeta(a)
	}
	m, err := labels.NewMatcher(labels.MatchNotRegexp, "app", strings.Join(quoted, "|"))
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(BuiltinRules), &doc); err != nil {
		return nil, err
	}
	p := parser.NewParser(parser.Options{})
	for _, g := range items(value(doc.Content[0], "groups")) {
		for _, r := range items(value(g, "rules")) {
			e := value(r, "expr")
			expr, err := p.ParseExpr(e.Value)
			if err != nil {
				return nil, err
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					vs.LabelMatchers = append(vs.LabelMatchers, m)
				}
				return nil
			})
			e.Value, e.Style = expr.String(), 0
		}
	}
	return yaml.Marshal(&doc)
}

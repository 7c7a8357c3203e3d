package alerting

import (
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
	"github.com/tendhq/tend/internal/yamldoc"
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

// CheckRules parses one rule file as the rules manager will; errors name the file, and
// YAML errors their line, column and field.
func CheckRules(name string, content []byte) error {
	_, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) == 0 {
		return nil
	}
	doc, err := yamldoc.Parse(name, content)
	switch {
	case errors.Is(err, yamldoc.ErrSecondDocument):
		doc = &yamldoc.Doc{File: name} // the rules manager reads the first document only
	case err != nil:
		return err // a syntax error, at its line (rulefmt counts some from 0)
	}
	var all yamldoc.Errors
	for _, e := range errs {
		for _, w := range doc.Wrap(e) {
			if len(all) == 0 || w.Error() != all[len(all)-1].Error() { // rulefmt reads the file twice
				all = append(all, w)
			}
		}
	}
	return all
}

// appsDigest summarises what the rule set is made of, so that an unchanged set is
// recognised without writing or parsing anything.
func appsDigest(apps []AppRules) [32]byte {
	h := sha256.New()
	for _, a := range apps {
		fmt.Fprintf(h, "%s\x00%v\x00%d\x00", a.App, a.NoBuiltin, len(a.Files))
		for _, f := range a.Files {
			fmt.Fprintf(h, "%d\x00", len(f))
			h.Write(f)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// writeRuleSet writes the built-in rules and the apps' rules (labelled with their app)
// into dir and returns every file the rules manager should load, the server's first.
func writeRuleSet(dir string, builtin bool, serverFiles []string, apps []AppRules) ([]string, error) {
	files := append([]string(nil), serverFiles...)
	appsDir := filepath.Join(dir, "apps")
	// rewritten whole: an app that dropped its rules leaves no file behind
	if err := os.RemoveAll(appsDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(appsDir, 0o700); err != nil {
		return nil, err
	}
	write := func(path string, b []byte) error {
		files = append(files, path)
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
				return nil, fmt.Errorf("rules of %s: %w", a.App, err)
			}
			if err := write(filepath.Join(appsDir, fmt.Sprintf("%s-%d.rules.yml", a.App, i)), b); err != nil {
				return nil, err
			}
		}
	}
	if builtin {
		b, err := builtinExcept(excluded)
		if err != nil {
			return nil, err
		}
		if err := write(filepath.Join(dir, "builtin.rules.yml"), b); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// labelApp gives every alerting rule of a file the label app=<app>, over one it sets
// itself: its alerts lead to the app's incidents and runbooks, never another app's (a
// spec may be deployed with a token for its app only).
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
			if v := value(l, "app"); v != nil {
				v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!str", app, 0 // an app's rules page about that app only
			} else {
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

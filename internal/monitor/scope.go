package monitor

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// AppLabel is the label that says which app a series is of.
const AppLabel = "app"

// appsMatcher matches the series of apps only.
func appsMatcher(apps []string) *labels.Matcher {
	quoted := make([]string, len(apps))
	for i, a := range apps {
		quoted[i] = regexp.QuoteMeta(a)
	}
	return labels.MustNewMatcher(labels.MatchRegexp, AppLabel, strings.Join(quoted, "|"))
}

// ScopeQuery rewrites a PromQL expression so that every series it selects is of one
// of apps (each selector gets app=~"a|b" beside its own matchers: one that names
// another app selects nothing).
func ScopeQuery(q string, apps []string) (string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return "", err
	}
	m := appsMatcher(apps)
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = append(vs.LabelMatchers, m)
		}
		return nil
	})
	return expr.String(), nil
}

// ScopeSelectors rewrites series selectors (the match[] parameters of the metadata
// endpoints) as ScopeQuery does; none stands for every series of apps.
func ScopeSelectors(sels []string, apps []string) ([]string, error) {
	m := appsMatcher(apps)
	if len(sels) == 0 {
		return []string{"{" + m.String() + "}"}, nil
	}
	p := parser.NewParser(parser.Options{})
	out := make([]string, 0, len(sels))
	for _, s := range sels {
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("match[] %q: %w", s, err)
		}
		parts := make([]string, 0, len(ms)+1)
		for _, x := range append(ms, m) {
			parts = append(parts, x.String())
		}
		out = append(out, "{"+strings.Join(parts, ",")+"}")
	}
	return out, nil
}

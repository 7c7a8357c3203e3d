package spec

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/yamldoc"
	"gopkg.in/yaml.v3"
)

// decoder walks YAML nodes into an App, collecting every error with its position.
type decoder struct {
	// doc is the spec's YAML (nil for a spec built in code), for errors found after
	// decoding.
	doc  *yamldoc.Doc
	errs Errors
}

func (d *decoder) errorf(n *yaml.Node, field, format string, a ...any) {
	d.errs = append(d.errs, &yamldoc.Error{File: d.doc.File, Line: n.Line, Col: n.Column, Field: field, Msg: fmt.Sprintf(format, a...)})
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fields decodes a mapping: each known key goes to its handler; unknown and duplicate
// keys are errors. later maps keys that a later tend release will accept. It returns
// the keys written.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, field string), later map[string]string) map[string]bool {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			d.errorf(n, path, "want a mapping of fields, got %s", kindName(n))
		}
		return nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if seen[k.Value] {
			d.errorf(k, field, "appears twice; keep one")
			continue
		}
		seen[k.Value] = true
		if h, ok := handlers[k.Value]; ok {
			h(v, field)
			continue
		}
		if why, ok := later[k.Value]; ok {
			d.errorf(k, field, "not supported yet: %s", why)
			continue
		}
		known := make([]string, 0, len(handlers))
		for name := range handlers {
			known = append(known, name)
		}
		if s := suggest(k.Value, known); s != "" {
			d.errorf(k, field, "unknown field; did you mean %q?", s)
		} else {
			d.errorf(k, field, "unknown field (known: %s)", strings.Join(sortedCopy(known), ", "))
		}
	}
	return seen
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func (d *decoder) scalar(n *yaml.Node, field, want string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, field, "want %s, got %s", want, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, field string) string {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!str" && n.Tag != "!!null" {
		d.errorf(n, field, "want a string, got %s (quote it)", kindName(n))
		return ""
	}
	s, _ := d.scalar(n, field, "a string")
	return s
}

func (d *decoder) integer(n *yaml.Node, field string) int {
	s, ok := d.scalar(n, field, "a whole number")
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil || resolve(n).Tag != "!!int" {
		d.errorf(n, field, "want a whole number, got %q", s)
		return 0
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	s, ok := d.scalar(n, field, "true or false")
	if !ok {
		return false
	}
	switch s {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	d.errorf(n, field, "want true or false, got %q", s)
	return false
}

// duration reads a Go duration ("2s", "1m30s"); a bare 0 is allowed.
func (d *decoder) duration(n *yaml.Node, field string) time.Duration {
	s, ok := d.scalar(n, field, "a duration like 10s or 1m30s")
	if !ok {
		return 0
	}
	if s == "0" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		hint := ""
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			hint = " (add a unit: " + s + "s)"
		}
		d.errorf(n, field, "want a duration like 10s or 1m30s, got %q%s", s, hint)
		return 0
	}
	if v < 0 {
		d.errorf(n, field, "must not be negative, got %s", s)
		return 0
	}
	return v
}

func (d *decoder) stringList(n *yaml.Node, field string) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list, got %s", kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		out = append(out, d.str(item, fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}

// stringMap reads a mapping of names to scalar values; numbers and booleans are kept as written.
func (d *decoder) stringMap(n *yaml.Node, field string) map[string]string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping of names to values, got %s", kindName(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		f := join(field, k.Value)
		if _, dup := out[k.Value]; dup {
			d.errorf(k, f, "appears twice; keep one")
			continue
		}
		if v.Kind != yaml.ScalarNode {
			d.errorf(v, f, "want a value, got %s", kindName(v))
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

var intOrPercentRE = regexp.MustCompile(`^(\d+)(%?)$`)

func (d *decoder) intOrPercent(n *yaml.Node, field string) IntOrPercent {
	s, ok := d.scalar(n, field, "a count or a percentage like 25%")
	if !ok {
		return IntOrPercent{}
	}
	m := intOrPercentRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		d.errorf(n, field, "want a count or a percentage like 25%%, got %q", s)
		return IntOrPercent{}
	}
	v, _ := strconv.Atoi(m[1])
	if m[2] == "%" && v > 100 {
		d.errorf(n, field, "a percentage must be at most 100%%, got %s", s)
	}
	return IntOrPercent{Value: v, Percent: m[2] == "%"}
}

// milliCPU reads "500m", "0.5" or "2" as thousandths of a core.
func (d *decoder) milliCPU(n *yaml.Node, field string) int64 {
	s, ok := d.scalar(n, field, "a CPU amount like 500m or 0.5")
	if !ok {
		return 0
	}
	if strings.HasSuffix(s, "m") {
		v, err := strconv.ParseInt(strings.TrimSuffix(s, "m"), 10, 64)
		if err == nil && v > 0 {
			return v
		}
	} else if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && !math.IsInf(f, 0) && f < 1e6 {
		return int64(math.Round(f * 1000))
	}
	d.errorf(n, field, "want a positive CPU amount like 500m, 0.5 or 2, got %q", s)
	return 0
}

var memoryUnits = map[string]int64{
	"": 1, "k": 1000, "K": 1000, "M": 1000 * 1000, "G": 1000 * 1000 * 1000, "T": 1000 * 1000 * 1000 * 1000,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
}

var memoryRE = regexp.MustCompile(`^(\d+)([kKMGT]i?)?$`)

// memoryBytes reads "256Mi", "1Gi", "512M" or plain bytes.
func (d *decoder) memoryBytes(n *yaml.Node, field string) int64 {
	return d.bytes(n, field, "memory amount like 256Mi, 1Gi or 512M")
}

// bytes reads a size as memoryBytes does; what says what kind of size in errors.
func (d *decoder) bytes(n *yaml.Node, field, what string) int64 {
	s, ok := d.scalar(n, field, "a "+what)
	if !ok {
		return 0
	}
	v, err := ParseBytes(s)
	if err != nil {
		d.errorf(n, field, "want a positive %s, got %q", what, s)
	}
	return v
}

// ParseBytes reads a size as tend.yaml writes memory: "256Mi", "1Gi", "512M" or plain bytes.
func ParseBytes(s string) (int64, error) {
	m := memoryRE.FindStringSubmatch(s)
	if m != nil {
		v, err := strconv.ParseInt(m[1], 10, 64)
		unit, known := memoryUnits[m[2]]
		if err == nil && known && v > 0 && v <= math.MaxInt64/unit {
			return v * unit, nil
		}
	}
	return 0, fmt.Errorf("not a positive size like 256Mi, 1Gi or 512M: %q", s)
}

// synonyms are names users bring from other tools.
var synonyms = map[string]string{"replicas": "instances", "env_vars": "env", "environment": "env", "name": "app", "healthcheck": "health"}

// suggest returns the known name closest to s, if it is close enough to be a typo.
func suggest(s string, known []string) string {
	if alias, ok := synonyms[s]; ok && slices.Contains(known, alias) {
		return alias
	}
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, s) {
			return k
		}
		if dist := levenshtein(strings.ToLower(s), strings.ToLower(k)); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

var durationRE = regexp.MustCompile(`^[0-9.]+(ns|us|µs|ms|s|m|h)([0-9.]+(ns|us|µs|ms|s|m|h))*$`)

// threshold reads a limit: a percentage ("1%", a fraction), a duration ("500ms", in
// seconds), a size ("256Mi", in bytes) or a plain number.
func (d *decoder) threshold(n *yaml.Node, field string) *Threshold {
	s, ok := d.scalar(n, field, "a threshold like 1%, 500ms or 3")
	if !ok {
		return nil
	}
	s = strings.TrimSpace(s)
	if p, found := strings.CutSuffix(s, "%"); found {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || v > 100 {
			d.errorf(n, field, "want a percentage between 0%% and 100%%, got %q", s)
			return nil
		}
		return &Threshold{Text: s, Value: v / 100}
	}
	if durationRE.MatchString(s) {
		v, err := time.ParseDuration(s)
		if err != nil {
			d.errorf(n, field, "want a duration like 500ms, got %q", s)
			return nil
		}
		return &Threshold{Text: s, Value: v.Seconds()}
	}
	if m := memoryRE.FindStringSubmatch(s); m != nil && m[2] != "" {
		if b, err := ParseBytes(s); err == nil {
			return &Threshold{Text: s, Value: float64(b)}
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, field, "want a threshold like 1%%, 500ms, 256Mi or 3, got %q", s)
		return nil
	}
	return &Threshold{Text: s, Value: v}
}

// metrics reads where instances serve metrics: {path, port} or false for none.
func (d *decoder) metrics(n *yaml.Node, path string) Metrics {
	m := Metrics{}
	if r := resolve(n); r.Kind == yaml.ScalarNode && r.Tag == "!!bool" {
		if !d.boolean(r, path) {
			m.Disabled = true
		}
		return m
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"path": func(v *yaml.Node, f string) {
			m.Path = d.str(v, f)
			if !strings.HasPrefix(m.Path, "/") {
				d.errorf(v, f, "want a path starting with /, like /metrics, got %q", m.Path)
			}
		},
		"port": func(v *yaml.Node, f string) {
			m.Port = d.str(v, f)
			if m.Port != "admin" && m.Port != "app" {
				d.errorf(v, f, "want admin (the instance's ADMIN_PORT) or app (its PORT), got %q", m.Port)
			}
		},
	}, nil)
	return m
}

// alerts reads "alerts: [files]" or "alerts: {rules: [files], builtin: bool}".
func (d *decoder) alerts(n *yaml.Node, path string) Alerts {
	var a Alerts
	if resolve(n).Kind == yaml.SequenceNode {
		a.Rules = d.stringList(n, path)
	} else {
		d.fields(n, path, map[string]func(*yaml.Node, string){
			"rules":   func(v *yaml.Node, f string) { a.Rules = d.stringList(v, f) },
			"builtin": func(v *yaml.Node, f string) { a.NoBuiltin = !d.boolean(v, f) },
		}, nil)
	}
	return a
}

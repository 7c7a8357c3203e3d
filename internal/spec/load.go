package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tendhq/tend/internal/yamldoc"
	"gopkg.in/yaml.v3"
)

// Load reads, defaults and validates the spec at path. Errors name path:line:col and the field.
func Load(path string) (*App, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	a, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	a.File = path
	if abs, err := filepath.Abs(path); err == nil {
		a.Dir = filepath.Dir(abs)
	}
	return a, nil
}

// Parse decodes, defaults and validates a spec; name stands for the file in messages.
// All problems are reported at once, as Errors.
func Parse(name string, data []byte) (*App, error) {
	doc, err := yamldoc.Parse(name, data)
	if err != nil {
		var e *yamldoc.Error
		if errors.As(err, &e) && errors.Is(e, yamldoc.ErrSecondDocument) {
			e.Msg = "a second YAML document (---): a spec file holds one app"
		}
		return nil, err
	}
	if doc.Root == nil {
		return nil, Errors{{File: name, Msg: "the spec is empty: it needs at least app and build"}}
	}
	d := &decoder{doc: doc}
	a := &App{}
	root := doc.Root
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "want a mapping with app, build, instances, ...; got %s", kindName(root))
		return nil, d.errs
	}
	d.app(root, a)
	if len(d.errs) > 0 {
		d.errs.Sort()
		return nil, d.errs
	}
	a.setDefaults()
	d.validate(a)
	if len(d.errs) > 0 {
		d.errs.Sort()
		return nil, d.errs
	}
	a.doc = doc
	return a, nil
}

// FieldError is a problem with field (a dotted path like route.tls.cert) found after
// parsing, at the field's position in the file (or its closest parent's).
func (a *App) FieldError(field, format string, args ...any) *yamldoc.Error {
	e := a.doc.Errorf(fieldPath(field), format, args...)
	e.File = a.File
	return e
}

var fieldPart = regexp.MustCompile(`\[(\d+)\]|[^.\[]+`)

// fieldPath splits a dotted field like strategy.canary.steps[0].weight into the path
// yamldoc looks up.
func fieldPath(field string) []any {
	var path []any
	for _, m := range fieldPart.FindAllStringSubmatch(field, -1) {
		if i, err := strconv.Atoi(m[1]); err == nil {
			path = append(path, i)
		} else {
			path = append(path, m[0])
		}
	}
	return path
}

func (d *decoder) app(n *yaml.Node, a *App) {
	written := d.fields(n, "", map[string]func(*yaml.Node, string){
		"app":   func(v *yaml.Node, f string) { a.App = d.str(v, f) },
		"build": func(v *yaml.Node, f string) { d.build(v, f, &a.Build) },
		"instances": func(v *yaml.Node, f string) {
			before := len(d.errs)
			if a.Instances = d.integer(v, f); a.Instances < 1 && len(d.errs) == before {
				d.errorf(v, f, "want between 1 and 1000 instances, got %d", a.Instances)
			}
		},
		"route":   func(v *yaml.Node, f string) { d.route(v, f, &a.Route) },
		"env":     func(v *yaml.Node, f string) { d.env(v, f, a) },
		"secrets": func(v *yaml.Node, f string) { a.Secrets = d.stringList(v, f) },
		"args":    func(v *yaml.Node, f string) { a.Args = d.stringList(v, f) },
		"health": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"readiness": func(v *yaml.Node, f string) { a.Health.Readiness = d.probe(v, f) },
				"liveness":  func(v *yaml.Node, f string) { a.Health.Liveness = d.probe(v, f) },
			}, nil)
		},
		"resources": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"cpu":    func(v *yaml.Node, f string) { a.Resources.MilliCPU = d.milliCPU(v, f) },
				"memory": func(v *yaml.Node, f string) { a.Resources.MemoryBytes = d.memoryBytes(v, f) },
			}, nil)
		},
		"shutdown": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"grace": func(v *yaml.Node, f string) { a.Shutdown.Grace = d.duration(v, f) },
				"drain": func(v *yaml.Node, f string) { a.Shutdown.Drain = d.duration(v, f) },
			}, nil)
		},
		"strategy":  func(v *yaml.Node, f string) { d.strategy(v, f, &a.Strategy) },
		"metrics":   func(v *yaml.Node, f string) { a.Metrics = d.metrics(v, f) },
		"alerts":    func(v *yaml.Node, f string) { a.Alerts = d.alerts(v, f) },
		"files":     func(v *yaml.Node, f string) { a.Files = d.files(v, f) },
		"autoscale": func(v *yaml.Node, f string) { a.Autoscale = d.autoscale(v, f) },
		"backups":   func(v *yaml.Node, f string) { a.Backups = d.backups(v, f) },
	}, nil)
	for _, req := range []string{"app", "build"} {
		if !written[req] {
			d.errorf(n, req, "required field is missing")
		}
	}
}

func (d *decoder) build(n *yaml.Node, path string, b *Build) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"main":    func(v *yaml.Node, f string) { b.Main = d.str(v, f) },
		"binary":  func(v *yaml.Node, f string) { b.Binary = d.str(v, f) },
		"version": func(v *yaml.Node, f string) { b.Version = d.str(v, f) },
	}, map[string]string{"image": "container images arrive with the Kubernetes runtime; use main or binary"})
}

func (d *decoder) route(n *yaml.Node, path string, r *Route) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"hosts":      func(v *yaml.Node, f string) { r.Hosts = d.stringList(v, f) },
		"pathPrefix": func(v *yaml.Node, f string) { r.PathPrefix = d.str(v, f) },
		"protocol":   func(v *yaml.Node, f string) { r.Protocol = d.str(v, f) },
		"maxBody":    func(v *yaml.Node, f string) { r.MaxBodyBytes = d.bytes(v, f, "size like 1Mi, 512Ki or 10M") },
		"tls":        func(v *yaml.Node, f string) { r.TLS = d.tls(v, f) },
		"timeouts": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"response": func(v *yaml.Node, f string) { r.Timeouts.Response = d.duration(v, f) },
				"body":     func(v *yaml.Node, f string) { r.Timeouts.Body = d.duration(v, f) },
				"connect":  func(v *yaml.Node, f string) { r.Timeouts.Connect = d.duration(v, f) },
			}, nil)
		},
	}, nil)
}

// tls decodes route.tls: auto, or a mapping of auto or cert and key, redirect, hsts and
// onDemand.
func (d *decoder) tls(n *yaml.Node, path string) *TLS {
	t := &TLS{Redirect: true}
	if v := resolve(n); v.Kind == yaml.ScalarNode {
		if s, ok := d.scalar(v, path, "auto or a mapping"); ok {
			if s != "auto" {
				d.errorf(v, path, "want auto (certificates from the ACME CA) or a mapping like {cert: cert.pem, key: key.pem}, got %q", s)
			}
			t.Auto = true
		}
		return t
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"auto":     func(v *yaml.Node, f string) { t.Auto = d.boolean(v, f) },
		"cert":     func(v *yaml.Node, f string) { t.Cert = d.str(v, f) },
		"key":      func(v *yaml.Node, f string) { t.Key = d.str(v, f) },
		"redirect": func(v *yaml.Node, f string) { t.Redirect = d.boolean(v, f) },
		"hsts":     func(v *yaml.Node, f string) { t.HSTS = d.duration(v, f) },
		"onDemand": func(v *yaml.Node, f string) { t.OnDemand = d.str(v, f) },
	}, nil)
	return t
}

func (d *decoder) probe(n *yaml.Node, path string) *Probe {
	p := &Probe{}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"http": func(v *yaml.Node, f string) { p.HTTP = d.str(v, f) },
		"tcp":  func(v *yaml.Node, f string) { p.TCP = d.boolean(v, f) },
		"grpc": func(v *yaml.Node, f string) {
			p.GRPC = &GRPCProbe{}
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"service": func(v *yaml.Node, f string) { p.GRPC.Service = d.str(v, f) },
			}, nil)
		},
		"interval":         func(v *yaml.Node, f string) { p.Interval = d.duration(v, f) },
		"timeout":          func(v *yaml.Node, f string) { p.Timeout = d.duration(v, f) },
		"failureThreshold": func(v *yaml.Node, f string) { p.FailureThreshold = d.integer(v, f) },
		"successThreshold": func(v *yaml.Node, f string) { p.SuccessThreshold = d.integer(v, f) },
		"initialDelay":     func(v *yaml.Node, f string) { p.InitialDelay = d.duration(v, f) },
	}, nil)
	return p
}

func (d *decoder) strategy(n *yaml.Node, path string, s *Strategy) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"rolling": func(v *yaml.Node, f string) {
			s.Rolling = &Rolling{}
			written := d.fields(v, f, map[string]func(*yaml.Node, string){
				"maxSurge":       func(v *yaml.Node, f string) { s.Rolling.MaxSurge = d.intOrPercent(v, f) },
				"maxUnavailable": func(v *yaml.Node, f string) { s.Rolling.MaxUnavailable = d.intOrPercent(v, f) },
				"minReady":       func(v *yaml.Node, f string) { s.Rolling.MinReady = d.duration(v, f) },
			}, nil)
			if !written["maxSurge"] && !written["maxUnavailable"] { // rolling: {} is the default rolling update
				s.Rolling.MaxSurge = IntOrPercent{Value: DefaultMaxSurgePercent, Percent: true}
			}
		},
		"blueGreen": func(v *yaml.Node, f string) {
			s.BlueGreen = &BlueGreen{}
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"autoPromote":      func(v *yaml.Node, f string) { s.BlueGreen.AutoPromote = d.boolean(v, f) },
				"autoPromoteDelay": func(v *yaml.Node, f string) { s.BlueGreen.AutoPromoteDelay = d.duration(v, f) },
				"analysis":         func(v *yaml.Node, f string) { s.BlueGreen.Analysis = d.analysis(v, f) },
				"minReady":         func(v *yaml.Node, f string) { s.BlueGreen.MinReady = d.duration(v, f) },
			}, nil)
		},
		"canary":           func(v *yaml.Node, f string) { s.Canary = d.canary(v, f) },
		"progressDeadline": func(v *yaml.Node, f string) { s.ProgressDeadline = d.duration(v, f) },
		"rollbackWindow":   func(v *yaml.Node, f string) { s.RollbackWindow = d.duration(v, f) },
	}, nil)
}

func (d *decoder) canary(n *yaml.Node, path string) *Canary {
	c := &Canary{}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"steps": func(v *yaml.Node, f string) {
			v = resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, f, "want a list of steps like [{weight: 10}, {pause: 1m}], got %s", kindName(v))
				return
			}
			if len(v.Content) == 0 {
				d.errorf(v, f, "an empty list of steps: give steps like [{weight: 10}, {pause: 1m}], or remove steps for the default (weight %d%%, then a pause for tend promote)", DefaultCanaryWeight)
				return
			}
			for i, item := range v.Content {
				c.Steps = append(c.Steps, d.canaryStep(item, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
		"match": func(v *yaml.Node, f string) {
			v = resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, f, "want a list of rules like [{header: {X-Canary: \"yes\"}}], got %s", kindName(v))
				return
			}
			for i, item := range v.Content {
				c.Match = append(c.Match, d.match(item, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
		"analysis": func(v *yaml.Node, f string) { c.Analysis = d.analysis(v, f) },
		"minReady": func(v *yaml.Node, f string) { c.MinReady = d.duration(v, f) },
		"mirror": func(v *yaml.Node, f string) {
			m := d.intOrPercent(v, f)
			if !m.Percent && m.Value != 0 {
				d.errorf(v, f, "want a percentage of the stable revision's requests like 10%%, got %q", resolve(v).Value)
				return
			}
			c.Mirror = m.Value
		},
	}, nil)
	return c
}

func (d *decoder) canaryStep(n *yaml.Node, path string) CanaryStep {
	var s CanaryStep
	n = resolve(n)
	if n.Kind == yaml.MappingNode && len(n.Content) > 2 {
		d.errorf(n, path, "a step is exactly one of weight, pause or analysis; split it into several steps")
		return s
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"weight": func(v *yaml.Node, f string) {
			w := d.integer(v, f)
			if w < 0 || w > 100 {
				d.errorf(v, f, "want a percentage of traffic between 0 and 100, got %d", w)
			}
			s.Weight = &w
		},
		"pause":    func(v *yaml.Node, f string) { s.Pause = d.pause(v, f) },
		"analysis": func(v *yaml.Node, f string) { s.Analysis = d.analysis(v, f) },
	}, nil)
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		d.errorf(n, path, "an empty step: want one of weight, pause or analysis")
	}
	return s
}

// pause reads "1m", "{duration: 1m}" or "{}" (wait for promote).
func (d *decoder) pause(n *yaml.Node, path string) *Pause {
	p := &Pause{}
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		p.Duration = d.duration(n, path)
		if p.Duration == 0 {
			d.errorf(n, path, "a pause of 0 does nothing; use {} to wait for `tend promote`")
		}
		return p
	}
	if n.Tag == "!!null" {
		return p
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"duration": func(v *yaml.Node, f string) { p.Duration = d.duration(v, f) },
	}, nil)
	return p
}

func (d *decoder) analysis(n *yaml.Node, path string) *Analysis {
	a := &Analysis{}
	count := func(dst *int) func(v *yaml.Node, f string) {
		return func(v *yaml.Node, f string) {
			*dst = d.integer(v, f)
			if *dst < 0 {
				d.errorf(v, f, "must not be negative, got %d", *dst)
			}
		}
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"interval":          func(v *yaml.Node, f string) { a.Interval = d.duration(v, f) },
		"count":             count(&a.Count),
		"failureLimit":      count(&a.FailureLimit),
		"inconclusiveLimit": count(&a.InconclusiveLimit),
		"minRequests":       count(&a.MinRequests),
		"onFailure": func(v *yaml.Node, f string) {
			a.OnFailure = d.str(v, f)
			if a.OnFailure != "rollback" && a.OnFailure != "pause" && a.OnFailure != "" {
				d.errorf(v, f, "want rollback or pause, got %q", a.OnFailure)
			}
		},
		"load": func(v *yaml.Node, f string) {
			l := &AnalysisLoad{}
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"rps": func(v *yaml.Node, f string) {
					l.RPS = d.integer(v, f)
					if l.RPS < 1 || l.RPS > 1000 {
						d.errorf(v, f, "want between 1 and 1000 requests per second, got %d", l.RPS)
					}
				},
				"path": func(v *yaml.Node, f string) {
					l.Path = d.str(v, f)
					if !strings.HasPrefix(l.Path, "/") {
						d.errorf(v, f, "must start with /, got %q", l.Path)
					}
				},
			}, nil)
			if l.RPS == 0 {
				d.errorf(resolve(v), f+".rps", "required field is missing")
			}
			a.Load = l
		},
		"checks": func(v *yaml.Node, f string) {
			v = resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, f, "want a list of checks like [{name: error-rate, max: 1%%}], got %s", kindName(v))
				return
			}
			for i, item := range v.Content {
				a.Checks = append(a.Checks, d.check(item, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
	}, nil)
	return a
}

// check reads one analysis check and refuses what could never be judged.
func (d *decoder) check(item *yaml.Node, path string) Check {
	var c Check
	var maxN, minN *yaml.Node
	d.fields(item, path, map[string]func(*yaml.Node, string){
		"name":     func(v *yaml.Node, f string) { c.Name = d.str(v, f) },
		"query":    func(v *yaml.Node, f string) { c.Query = d.str(v, f) },
		"max":      func(v *yaml.Node, f string) { maxN = v; c.Max = d.threshold(v, f) },
		"min":      func(v *yaml.Node, f string) { minN = v; c.Min = d.threshold(v, f) },
		"baseline": func(v *yaml.Node, f string) { c.Baseline = d.boolean(v, f) },
		"tolerance": func(v *yaml.Node, f string) {
			t := d.threshold(v, f)
			if t != nil && !strings.HasSuffix(t.Text, "%") {
				d.errorf(v, f, "want a percentage like 20%%, got %q", t.Text)
			} else if t != nil {
				c.Tolerance = t.Value
			}
		},
	}, nil)
	if resolve(item).Kind != yaml.MappingNode {
		return c
	}
	if c.Name == "" {
		d.errorf(item, path+".name", "required field is missing")
		return c
	}
	builtin := slices.Contains(BuiltinChecks, c.Name)
	if !builtin && c.Query == "" {
		d.errorf(resolve(item), path+".query", "%q is not a built-in check (%s): give it a PromQL query", c.Name, strings.Join(BuiltinChecks, ", "))
	}
	if c.Max == nil && c.Min == nil && !c.Baseline {
		// Argo Rollouts passes such a metric in its code and calls it inconclusive in its docs: tend refuses it
		d.errorf(resolve(item), path, "a check needs a condition: max, min or baseline: true (without one it could never fail)")
	}
	if builtin && c.Query == "" {
		for _, t := range []struct {
			n   *yaml.Node
			v   *Threshold
			fld string
		}{{maxN, c.Max, "max"}, {minN, c.Min, "min"}} {
			if t.v == nil {
				continue
			}
			pct, dur := strings.HasSuffix(t.v.Text, "%"), durationRE.MatchString(t.v.Text)
			switch {
			case c.Name == "error-rate" && !pct:
				d.errorf(t.n, path+"."+t.fld, "error-rate is a share of requests: want a percentage like 1%%, got %q", t.v.Text)
			case c.Name != "error-rate" && !dur:
				d.errorf(t.n, path+"."+t.fld, "%s is a latency: want a duration like 500ms, got %q", c.Name, t.v.Text)
			}
		}
	}
	return c
}

func (d *decoder) match(n *yaml.Node, path string) Match {
	var m Match
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"header": func(v *yaml.Node, f string) { m.Header = d.stringMap(v, f) },
		"cookie": func(v *yaml.Node, f string) { m.Cookie = d.stringMap(v, f) },
	}, nil)
	if len(m.Header)+len(m.Cookie) != 1 {
		d.errorf(resolve(n), path, "a rule matches exactly one header or one cookie, like {header: {X-Canary: \"yes\"}}")
	}
	return m
}

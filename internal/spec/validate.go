package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/tendhq/tend/internal/yamldoc"
)

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostRE     = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerRE   = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// Validate checks an App built in code (no positions in the messages). Load and Parse
// validate already.
func (a *App) Validate() error {
	d := &decoder{}
	d.validate(a)
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}

// at reports an error about the field at path, where it was written or else where its
// nearest written parent was.
func (d *decoder) at(path []any, format string, args ...any) {
	d.errs = append(d.errs, d.doc.Errorf(path, format, args...))
}

func (d *decoder) validate(a *App) {
	if a.App == "" {
		d.at([]any{"app"}, "required field is missing")
	} else if !dnsLabelRE.MatchString(a.App) {
		d.at([]any{"app"}, "want a name of lowercase letters, digits and '-' (at most 63, like my-app), got %q", a.App)
	}
	switch {
	case a.Build.Main == "" && a.Build.Binary == "":
		d.at([]any{"build"}, "set build.main (a Go main package) or build.binary (an executable)")
	case a.Build.Main != "" && a.Build.Binary != "":
		d.at([]any{"build", "binary"}, "set build.main or build.binary, not both")
	}
	if a.Instances < 1 || a.Instances > 1000 {
		d.at([]any{"instances"}, "want between 1 and 1000 instances, got %d", a.Instances)
	}
	for i, h := range a.Route.Hosts {
		if !hostRE.MatchString(h) {
			d.at([]any{"route", "hosts", i}, "want a lowercase host name like app.example.com or *.example.com, got %q", h)
		}
	}
	if p := a.Route.Protocol; p != "" && p != "http" && p != "http2" {
		d.at([]any{"route", "protocol"}, "want http (HTTP/1.1) or http2 (HTTP/2 without TLS, for gRPC), got %q", p)
	}
	d.validateTLS(a)
	if !strings.HasPrefix(a.Route.PathPrefix, "/") {
		d.at([]any{"route", "pathPrefix"}, "must start with /, got %q", a.Route.PathPrefix)
	}
	for k, v := range a.Env {
		switch {
		case !envNameRE.MatchString(k):
			d.at([]any{"env", yamldoc.Key(k)}, "not a valid environment variable name (letters, digits and _, not starting with a digit)")
		case k == "PORT" || strings.HasPrefix(k, "TEND_"):
			d.at([]any{"env", yamldoc.Key(k)}, "reserved: tend sets PORT and TEND_* for every instance")
		case strings.ContainsRune(v, 0):
			d.at([]any{"env", yamldoc.Key(k)}, "contains a NUL byte, which no process environment can hold: remove it")
		}
	}
	d.validateSecrets(a)
	d.validateFiles(a)
	for i, arg := range a.Args {
		if strings.ContainsRune(arg, 0) {
			d.at([]any{"args", i}, "contains a NUL byte, which no command line can hold: remove it")
		}
	}
	d.validateProbe("readiness", a.Health.Readiness)
	d.validateProbe("liveness", a.Health.Liveness)
	d.validateStrategy(a)
	d.validateAutoscale(a)
	d.validateBackups(a)
}

// validateProbe checks the probe health.<name>.
func (d *decoder) validateProbe(name string, p *Probe) {
	if p == nil {
		return
	}
	at := func(field ...any) []any { return append([]any{"health", name}, field...) }
	kinds := 0
	for _, set := range []bool{p.HTTP != "", p.TCP, p.GRPC != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		d.at(at(), "a probe is one of http, tcp or grpc; choose one")
	case p.HTTP != "" && !strings.HasPrefix(p.HTTP, "/"):
		d.at(at("http"), "want a path starting with /, like /ready, got %q", p.HTTP)
	}
	if p.Timeout >= p.Interval && p.Interval > 0 {
		d.at(at("timeout"), "must be shorter than the interval (%s), got %s", p.Interval, p.Timeout)
	}
	if p.FailureThreshold < 1 {
		d.at(at("failureThreshold"), "want at least 1, got %d", p.FailureThreshold)
	}
	if p.SuccessThreshold < 1 {
		d.at(at("successThreshold"), "want at least 1, got %d", p.SuccessThreshold)
	}
}

func (d *decoder) validateStrategy(a *App) {
	s := a.Strategy
	set := []string{}
	if s.Rolling != nil {
		set = append(set, "rolling")
	}
	if s.BlueGreen != nil {
		set = append(set, "blueGreen")
	}
	if s.Canary != nil {
		set = append(set, "canary")
	}
	if len(set) > 1 {
		d.at([]any{"strategy", set[1]}, "choose one strategy: %s are both set", strings.Join(set, " and "))
	}
	if r := s.Rolling; r != nil && r.MaxSurge.Value == 0 && r.MaxUnavailable.Value == 0 {
		d.at([]any{"strategy", "rolling", "maxSurge"}, "maxSurge and maxUnavailable cannot both be 0: the rollout could never move")
	}
	if c := s.Canary; c != nil {
		for i, m := range c.Match {
			for k := range m.Header {
				if !headerRE.MatchString(k) {
					d.at([]any{"strategy", "canary", "match", i, "header"}, "not a valid header name: %q", k)
				}
			}
		}
		for i, st := range c.Steps {
			n := 0
			for _, set := range []bool{st.Weight != nil, st.Pause != nil, st.Analysis != nil} {
				if set {
					n++
				}
			}
			if n > 1 {
				d.at([]any{"strategy", "canary", "steps", i}, "a step is exactly one of weight, pause or analysis")
			}
		}
	}
	if s.ProgressDeadline > 0 && a.Health.Readiness != nil && s.ProgressDeadline < a.Health.Readiness.Interval {
		d.at([]any{"strategy", "progressDeadline"}, "shorter than the readiness interval (%s): no instance could become ready in time", a.Health.Readiness.Interval)
	}
}

// Hash identifies everything in the spec that changes how instances run (env, health,
// resources, shutdown). Two specs with the same artifact and Hash are the
// same revision.
func (a *App) Hash() string {
	b, _ := json.Marshal(struct {
		Env       map[string]string
		Args      []string          `json:",omitempty"` // omitted: hashes from before args stay the same
		Secrets   map[string]string `json:",omitempty"` // likewise
		Files     []File            `json:",omitempty"` // likewise (with their content)
		Health    Health
		Resources Resources
		Shutdown  Shutdown
	}{a.Env, a.Args, a.SecretVars(), a.Files, a.Health, a.Resources, a.Shutdown})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (d *decoder) validateTLS(a *App) {
	t := a.Route.TLS
	if t == nil {
		return
	}
	onDemand := t.OnDemand != ""
	if len(a.Route.Hosts) == 0 && !onDemand {
		if t.Auto {
			d.at([]any{"route", "tls"}, "HTTPS needs the app's host names, for its certificate: list them in route.hosts, or set route.tls.onDemand to approve each host at its first TLS handshake")
		} else {
			d.at([]any{"route", "tls"}, "HTTPS needs the app's host names, for its certificate: list them in route.hosts")
		}
	}
	switch {
	case onDemand && !t.Auto:
		d.at([]any{"route", "tls", "onDemand"}, "on-demand certificates come from the ACME CA: set route.tls.auto: true (and no cert or key)")
	case t.Auto && (t.Cert != "" || t.Key != ""):
		d.at([]any{"route", "tls"}, "set auto (certificates from the ACME CA) or cert and key (your files), not both")
	case !t.Auto && t.Cert == "" && t.Key == "":
		d.at([]any{"route", "tls"}, "set auto: true (certificates from the ACME CA) or cert and key (your files)")
	case !t.Auto && t.Cert == "":
		d.at([]any{"route", "tls", "key"}, "a key needs its certificate: set route.tls.cert too")
	case !t.Auto && t.Key == "":
		d.at([]any{"route", "tls", "cert"}, "a certificate needs its private key: set route.tls.key too")
	}
	if t.Auto && !onDemand {
		for i, h := range a.Route.Hosts {
			if strings.HasPrefix(h, "*.") {
				d.at([]any{"route", "hosts", i}, "a wildcard host cannot get an ACME certificate over HTTP-01 or TLS-ALPN-01 (it needs DNS-01, which tend does not do): list the names, give route.tls a cert and key, or set route.tls.onDemand to get one certificate per name at its first TLS handshake")
			}
		}
	}
	if onDemand {
		if u, err := url.Parse(t.OnDemand); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			d.at([]any{"route", "tls", "onDemand"}, "want the absolute http or https URL of your approval endpoint, like https://api.example.com/allow-tls, got %q", t.OnDemand)
		}
	}
	if t.HSTS < 0 {
		d.at([]any{"route", "tls", "hsts"}, "want a duration of 0 or more (like 8760h), got %s", t.HSTS)
	}
}

package incident

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/tendhq/tend/internal/yamldoc"
)

// Config is the server's incident configuration (`tend server --incidents FILE`):
// remediation limits, escalation policies and runbooks.
//
//	remediation: {actionsPerHour: 3, cooldown: 10m, dryRun: false}
//	escalation:
//	- name: oncall
//	  match: {severity: critical}
//	  ackTimeout: 30m
//	  levels:
//	  - {after: 0s, webhook: http://127.0.0.1:9000/page}
//	  - {after: 5m, webhook: http://127.0.0.1:9000/page-lead}
//	runbooks:
//	- name: roll back on high error rate
//	  match: {alertname: HighErrorRate}
//	  steps:
//	  - rollback: {}
type Config struct {
	Remediation Limits     `yaml:"remediation" json:"remediation"`
	Escalation  []Policy   `yaml:"escalation" json:"escalation,omitempty"`
	Runbooks    []*Runbook `yaml:"runbooks" json:"runbooks"`
}

// Limits keep remediation safe.
type Limits struct {
	// ActionsPerHour caps the actions taken on one app in any hour (default 3).
	ActionsPerHour int `yaml:"actionsPerHour" json:"actionsPerHour"`
	// Cooldown is the least time between two runs of one runbook for one app (default 10m).
	Cooldown time.Duration `yaml:"cooldown" json:"cooldown"`
	// DryRun records what every runbook would do without doing it.
	DryRun bool `yaml:"dryRun" json:"dryRun,omitempty"`
}

// Policy pages levels of people, one after another, until someone acknowledges.
type Policy struct {
	Name  string            `yaml:"name" json:"name"`
	Match map[string]string `yaml:"match" json:"match,omitempty"`
	// AckTimeout triggers an acknowledged incident again when it is not resolved in time
	// (0: never).
	AckTimeout time.Duration `yaml:"ackTimeout" json:"ackTimeout,omitempty"`
	Levels     []Level       `yaml:"levels" json:"levels"`
}

// Level is one step of escalation: after this long without an acknowledgement, the
// webhook receives the incident as JSON.
type Level struct {
	After   time.Duration `yaml:"after" json:"after"`
	Webhook string        `yaml:"webhook" json:"webhook"`
}

// Runbook is what to do when alerts with its labels fire.
type Runbook struct {
	Name        string            `yaml:"name" json:"name"`
	Description string            `yaml:"description" json:"description,omitempty"`
	Match       map[string]string `yaml:"match" json:"match"`
	Steps       []Step            `yaml:"steps" json:"steps"`
	// DryRun records the steps without running them.
	DryRun bool `yaml:"dryRun" json:"dryRun,omitempty"`
	// SuccessWithin is how soon after the runbook the incident must resolve for the run to
	// count as a success (default 5m).
	SuccessWithin time.Duration `yaml:"successWithin" json:"successWithin"`
	// Cooldown overrides the remediation cooldown for this runbook.
	Cooldown time.Duration `yaml:"cooldown" json:"cooldown,omitempty"`
}

// Step is one action of a runbook; exactly one of its action fields is set.
type Step struct {
	Name     string        `yaml:"name" json:"name,omitempty"`
	Rollback *struct{}     `yaml:"rollback" json:"rollback,omitempty"`
	Restart  *RestartStep  `yaml:"restart" json:"restart,omitempty"`
	Scale    *ScaleStep    `yaml:"scale" json:"scale,omitempty"`
	Profile  *ProfileStep  `yaml:"profile" json:"profile,omitempty"`
	Command  *CommandStep  `yaml:"command" json:"command,omitempty"`
	Webhook  *WebhookStep  `yaml:"webhook" json:"webhook,omitempty"`
	Timeout  time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// RestartStep restarts the app's instances one by one, or with instance: true only the
// instance named by the alert's instance label.
type RestartStep struct {
	Instance bool `yaml:"instance" json:"instance,omitempty"`
}

// ScaleStep sets the app's instance count to To, or changes it By (may be negative).
type ScaleStep struct {
	To int `yaml:"to" json:"to,omitempty"`
	By int `yaml:"by" json:"by,omitempty"`
}

// ProfileStep captures profiles from the admin port of the alert's instance (every
// instance of the app when the alert names none).
type ProfileStep struct {
	CPU        time.Duration `yaml:"cpu" json:"cpu,omitempty"`
	Heap       bool          `yaml:"heap" json:"heap,omitempty"`
	Goroutines bool          `yaml:"goroutines" json:"goroutines,omitempty"`
}

// CommandStep runs a program (no shell) and checks how it ended.
type CommandStep struct {
	Argv         []string `yaml:"argv" json:"argv"`
	ExpectExit   int      `yaml:"expectExit" json:"expectExit,omitempty"`
	ExpectOutput string   `yaml:"expectOutput" json:"expectOutput,omitempty"`
}

// WebhookStep POSTs the incident as JSON and expects a 2xx answer.
type WebhookStep struct {
	URL string `yaml:"url" json:"url"`
}

// Kind is the step's action.
func (s Step) Kind() string {
	switch {
	case s.Rollback != nil:
		return "rollback"
	case s.Restart != nil && s.Restart.Instance:
		return "restart-instance"
	case s.Restart != nil:
		return "restart"
	case s.Scale != nil:
		return "scale"
	case s.Profile != nil:
		return "profile"
	case s.Command != nil:
		return "command"
	case s.Webhook != nil:
		return "webhook"
	}
	return ""
}

func (s Step) actions() int {
	n := 0
	for _, set := range []bool{s.Rollback != nil, s.Restart != nil, s.Scale != nil, s.Profile != nil, s.Command != nil, s.Webhook != nil} {
		if set {
			n++
		}
	}
	return n
}

// Matches reports whether every label of match has that value in labels.
func Matches(match, labels map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// LoadConfig reads an incident configuration; an empty path gives the defaults (no
// runbooks, no escalation). Errors name the file, the line and column, and the field.
func LoadConfig(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the incident config: %w", err)
		}
		doc, err := yamldoc.Decode(path, b, c)
		if err != nil {
			return nil, err
		}
		if err := c.validate(doc); err != nil {
			return nil, err
		}
	}
	if c.Remediation.ActionsPerHour == 0 {
		c.Remediation.ActionsPerHour = 3
	}
	if c.Remediation.Cooldown == 0 {
		c.Remediation.Cooldown = 10 * time.Minute
	}
	for _, rb := range c.Runbooks {
		if rb.SuccessWithin == 0 {
			rb.SuccessWithin = 5 * time.Minute
		}
		for i := range rb.Steps {
			if rb.Steps[i].Name == "" {
				rb.Steps[i].Name = rb.Steps[i].Kind()
			}
		}
	}
	return c, nil
}

// validate checks what YAML's types cannot; errors are at the field in doc, or at its
// nearest parent when it was left out.
func (c *Config) validate(doc *yamldoc.Doc) error {
	at := func(path []any, format string, args ...any) error {
		e := doc.Errorf(path, format, args...)
		e.Field = "" // the messages name the field, and the policy or runbook by its name
		return e
	}
	if c.Remediation.ActionsPerHour < 0 {
		return at([]any{"remediation", "actionsPerHour"}, "remediation.actionsPerHour must be 0 (default 3) or more")
	}
	names := map[string]bool{}
	for i, p := range c.Escalation {
		if p.Name == "" {
			return at([]any{"escalation", i, "name"}, "escalation[%d].name is missing", i)
		}
		if len(p.Levels) == 0 {
			return at([]any{"escalation", i, "levels"}, "escalation %q needs levels: [{after: 0s, webhook: URL}]", p.Name)
		}
		for j, l := range p.Levels {
			if err := checkURL(l.Webhook); err != nil {
				return at([]any{"escalation", i, "levels", j, "webhook"}, "escalation %q levels[%d].webhook: %w", p.Name, j, err)
			}
			if j > 0 && l.After < p.Levels[j-1].After {
				return at([]any{"escalation", i, "levels", j, "after"}, "escalation %q levels[%d].after (%s) comes before the level above it", p.Name, j, l.After)
			}
		}
	}
	for i, rb := range c.Runbooks {
		if rb.Name == "" {
			return at([]any{"runbooks", i, "name"}, "runbooks[%d].name is missing", i)
		}
		if names[rb.Name] {
			return at([]any{"runbooks", i, "name"}, "a second runbook named %q", rb.Name)
		}
		names[rb.Name] = true
		if len(rb.Match) == 0 {
			return at([]any{"runbooks", i, "match"}, "runbook %q needs match: {alertname: ...}; a runbook for every alert is too broad to be safe", rb.Name)
		}
		if len(rb.Steps) == 0 {
			return at([]any{"runbooks", i, "steps"}, "runbook %q has no steps", rb.Name)
		}
		for j, s := range rb.Steps {
			step := func(field ...any) []any { return append([]any{"runbooks", i, "steps", j}, field...) }
			switch {
			case s.actions() != 1:
				return at(step(), "runbook %q steps[%d] needs exactly one of rollback, restart, scale, profile, command, webhook", rb.Name, j)
			case s.Scale != nil && (s.Scale.To < 0 || (s.Scale.To == 0) == (s.Scale.By == 0)):
				return at(step("scale"), "runbook %q steps[%d].scale needs to: N (N ≥ 1) or by: ±N", rb.Name, j)
			case s.Command != nil && len(s.Command.Argv) == 0:
				return at(step("command", "argv"), "runbook %q steps[%d].command.argv is empty", rb.Name, j)
			case s.Webhook != nil:
				if err := checkURL(s.Webhook.URL); err != nil {
					return at(step("webhook", "url"), "runbook %q steps[%d].webhook.url: %w", rb.Name, j, err)
				}
			case s.Profile != nil && s.Profile.CPU == 0 && !s.Profile.Heap && !s.Profile.Goroutines:
				return at(step("profile"), "runbook %q steps[%d].profile captures nothing: set cpu: 10s, heap: true or goroutines: true", rb.Name, j)
			}
		}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http(s) URL, got %q", s)
	}
	return nil
}

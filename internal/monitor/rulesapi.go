package monitor

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
)

// RuleGroups lists the rule groups being evaluated (the alerting part's rules manager).
type RuleGroups func() []*rules.Group

// The bodies of /api/v1/rules and /api/v1/alerts, as Prometheus' API writes them (its
// web/api/v1 package is not imported: it pulls in Prometheus' whole web server).
type (
	ruleGroupJSON struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Rules          []any     `json:"rules"`
		Interval       float64   `json:"interval"`
		Limit          int       `json:"limit"`
		EvaluationTime float64   `json:"evaluationTime"`
		LastEvaluation time.Time `json:"lastEvaluation"`
	}
	alertingRuleJSON struct {
		State          string            `json:"state"`
		Name           string            `json:"name"`
		Query          string            `json:"query"`
		Duration       float64           `json:"duration"`
		KeepFiringFor  float64           `json:"keepFiringFor"`
		Labels         map[string]string `json:"labels"`
		Annotations    map[string]string `json:"annotations"`
		Alerts         []alertJSON       `json:"alerts"`
		Health         string            `json:"health"`
		LastError      string            `json:"lastError,omitempty"`
		EvaluationTime float64           `json:"evaluationTime"`
		LastEvaluation time.Time         `json:"lastEvaluation"`
		Type           string            `json:"type"`
	}
	recordingRuleJSON struct {
		Name           string            `json:"name"`
		Query          string            `json:"query"`
		Labels         map[string]string `json:"labels,omitempty"`
		Health         string            `json:"health"`
		LastError      string            `json:"lastError,omitempty"`
		EvaluationTime float64           `json:"evaluationTime"`
		LastEvaluation time.Time         `json:"lastEvaluation"`
		Type           string            `json:"type"`
	}
	alertJSON struct {
		Labels          map[string]string `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
		State           string            `json:"state"`
		ActiveAt        *time.Time        `json:"activeAt,omitempty"`
		KeepFiringSince *time.Time        `json:"keepFiringSince,omitempty"`
		Value           string            `json:"value"`
	}
)

// apiRules answers /api/v1/rules: every group with its rules, their health and, for
// alerting rules, their active alerts. type=alert|record, rule_name[], rule_group[] and
// file[] filter as Prometheus' do.
func (m *Monitor) apiRules(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		fail(w, badf("%v", err))
		return
	}
	typ := r.Form.Get("type")
	if typ != "" && typ != "alert" && typ != "record" {
		fail(w, badf("not supported value %q", typ))
		return
	}
	in := func(key, v string) bool { return len(r.Form[key]) == 0 || slices.Contains(r.Form[key], v) }
	groups := []ruleGroupJSON{}
	for _, g := range m.ruleGroups() {
		if !in("rule_group[]", g.Name()) || !in("file[]", g.File()) {
			continue
		}
		out := ruleGroupJSON{Name: g.Name(), File: g.File(), Rules: []any{}, Interval: g.Interval().Seconds(), Limit: g.Limit(),
			EvaluationTime: g.GetEvaluationTime().Seconds(), LastEvaluation: g.GetLastEvaluation()}
		for _, rule := range g.Rules() {
			if !in("rule_name[]", rule.Name()) {
				continue
			}
			lastErr := ""
			if err := rule.LastError(); err != nil {
				lastErr = err.Error()
			}
			switch rule := rule.(type) {
			case *rules.AlertingRule:
				if typ == "record" {
					continue
				}
				out.Rules = append(out.Rules, alertingRuleJSON{State: rule.State().String(), Name: rule.Name(), Query: rule.Query().String(),
					Duration: rule.HoldDuration().Seconds(), KeepFiringFor: rule.KeepFiringFor().Seconds(), Labels: rule.Labels().Map(),
					Annotations: rule.Annotations().Map(), Alerts: alertsOf(rule), Health: string(rule.Health()), LastError: lastErr,
					EvaluationTime: rule.GetEvaluationDuration().Seconds(), LastEvaluation: rule.GetEvaluationTimestamp(), Type: "alerting"})
			case *rules.RecordingRule:
				if typ == "alert" {
					continue
				}
				out.Rules = append(out.Rules, recordingRuleJSON{Name: rule.Name(), Query: rule.Query().String(), Labels: rule.Labels().Map(),
					Health: string(rule.Health()), LastError: lastErr, EvaluationTime: rule.GetEvaluationDuration().Seconds(),
					LastEvaluation: rule.GetEvaluationTimestamp(), Type: "recording"})
			}
		}
		if typ != "" && len(out.Rules) == 0 {
			continue // as Prometheus: a filtered listing leaves out groups it emptied
		}
		groups = append(groups, out)
	}
	ok(w, map[string]any{"groups": groups})
}

// apiAlerts answers /api/v1/alerts: the pending and firing alerts of every alerting rule.
func (m *Monitor) apiAlerts(w http.ResponseWriter, r *http.Request) {
	alerts := []alertJSON{}
	for _, g := range m.ruleGroups() {
		for _, rule := range g.AlertingRules() {
			alerts = append(alerts, alertsOf(rule)...)
		}
	}
	ok(w, map[string]any{"alerts": alerts})
}

func (m *Monitor) ruleGroups() []*rules.Group {
	m.mu.Lock()
	groups := m.rules
	m.mu.Unlock()
	if groups == nil {
		return nil
	}
	return groups()
}

// SetRuleGroups gives the API the rule groups to list (the alerting part starts after
// the monitor); until then /api/v1/rules lists none.
func (m *Monitor) SetRuleGroups(g RuleGroups) {
	m.mu.Lock()
	m.rules = g
	m.mu.Unlock()
}

func alertsOf(rule *rules.AlertingRule) []alertJSON {
	out := []alertJSON{}
	for _, a := range rule.ActiveAlerts() {
		j := alertJSON{Labels: a.Labels.Map(), Annotations: a.Annotations.Map(), State: a.State.String(),
			Value: strconv.FormatFloat(a.Value, 'e', -1, 64)}
		if !a.ActiveAt.IsZero() {
			at := a.ActiveAt
			j.ActiveAt = &at
		}
		if !a.KeepFiringSince.IsZero() {
			k := a.KeepFiringSince
			j.KeepFiringSince = &k
		}
		out = append(out, j)
	}
	slices.SortFunc(out, func(a, b alertJSON) int { return labels.Compare(labels.FromMap(a.Labels), labels.FromMap(b.Labels)) })
	return out
}

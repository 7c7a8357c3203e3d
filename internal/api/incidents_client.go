package api

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/tendhq/tend/internal/api/v1"
)

// Incidents lists incidents, newest first: the open ones, or every one with all.
func (c *Client) Incidents(ctx context.Context, all bool) ([]v1.Incident, error) {
	var v []v1.Incident
	path := "/v1/incidents"
	if all {
		path += "?all=1"
	}
	return v, c.getJSON(ctx, http.MethodGet, path, nil, &v)
}

// Incident returns one incident with its timeline.
func (c *Client) Incident(ctx context.Context, id int) (*v1.Incident, error) {
	var v v1.Incident
	return &v, c.getJSON(ctx, http.MethodGet, "/v1/incidents/"+strconv.Itoa(id), nil, &v)
}

// IncidentAction acknowledges, resolves or comments on an incident.
func (c *Client) IncidentAction(ctx context.Context, id int, action v1.IncidentAction, req v1.IncidentRequest) (*v1.Incident, error) {
	var v v1.Incident
	return &v, c.getJSON(ctx, http.MethodPost, "/v1/incidents/"+strconv.Itoa(id)+"/"+string(action), req, &v)
}

// Postmortem returns an incident's postmortem draft in Markdown.
func (c *Client) Postmortem(ctx context.Context, id int) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/incidents/"+strconv.Itoa(id)+"/postmortem", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Runbooks lists the runbooks with their measured success rates.
func (c *Client) Runbooks(ctx context.Context) (v1.Runbooks, error) {
	var v v1.Runbooks
	return v, c.getJSON(ctx, http.MethodGet, "/v1/runbooks", nil, &v)
}

// Remediation reports the remediation switch; SetRemediation flips it.
func (c *Client) Remediation(ctx context.Context) (v1.Remediation, error) {
	var v v1.Remediation
	return v, c.getJSON(ctx, http.MethodGet, "/v1/remediation", nil, &v)
}

// SetRemediation turns automated remediation on or off.
func (c *Client) SetRemediation(ctx context.Context, on bool, by string) (v1.Remediation, error) {
	var v v1.Remediation
	return v, c.getJSON(ctx, http.MethodPut, "/v1/remediation", v1.RemediationRequest{Enabled: on, By: by}, &v)
}

// Alert is an alert as the Alertmanager's API v2 lists it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    string            `json:"startsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State       string   `json:"state"` // active, suppressed, unprocessed
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// Alerts lists the embedded Alertmanager's alerts (silenced and inhibited ones too).
func (c *Client) Alerts(ctx context.Context) ([]Alert, error) {
	var v []Alert
	return v, c.getJSON(ctx, http.MethodGet, "/alertmanager/api/v2/alerts", nil, &v)
}

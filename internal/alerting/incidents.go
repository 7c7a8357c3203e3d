package alerting

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"

	"github.com/tendhq/tend/internal/incident"
)

// toIncidents is the embedded Alertmanager's integration for IncidentReceiver: it hands
// each notification of an alert group to the incident manager in this process, with no
// HTTP, JSON or token between them, and waits for it to be taken.
type toIncidents struct {
	inbox chan<- incident.Notification
	tmpl  *template.Template
	log   *slog.Logger
}

// SendResolved is true: a group's resolution closes its incident.
func (n *toIncidents) SendResolved() bool { return true }

// Notify delivers alerts as one notification; retry is true when it was not taken.
func (n *toIncidents) Notify(ctx context.Context, alerts ...*types.Alert) (bool, error) {
	key, err := notify.ExtractGroupKey(ctx)
	if err != nil {
		return false, err
	}
	data := notify.GetTemplateData(ctx, n.tmpl, alerts, n.log)
	msg := incident.Message{Version: "4", GroupKey: key.String(), Status: data.Status, Receiver: data.Receiver,
		GroupLabels: data.GroupLabels, CommonLabels: data.CommonLabels, CommonAnnotations: data.CommonAnnotations,
		ExternalURL: data.ExternalURL, Alerts: make([]incident.Alert, len(data.Alerts))}
	for i, a := range data.Alerts {
		msg.Alerts[i] = incident.Alert{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt}
	}
	done := make(chan error, 1)
	select {
	case n.inbox <- incident.Notification{Message: msg, Done: done}:
	case <-ctx.Done():
		return true, fmt.Errorf("the incident manager did not take the notification: %w", ctx.Err())
	}
	select {
	case err := <-done:
		if err != nil {
			return true, fmt.Errorf("the incident manager: %w", err)
		}
		return false, nil
	case <-ctx.Done():
		return true, fmt.Errorf("the incident manager did not answer: %w", ctx.Err())
	}
}

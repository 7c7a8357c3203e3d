package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
)

// Group is one notification of an alert group for tend's incident receiver: what an
// Alertmanager webhook (version 4) would carry.
type Group struct {
	Key, Status, Receiver                        string
	GroupLabels, CommonLabels, CommonAnnotations map[string]string
	ExternalURL                                  string
	Alerts                                       []GroupAlert
}

// GroupAlert is one alert of a Group.
type GroupAlert struct {
	Fingerprint, Status string
	Labels, Annotations map[string]string
	StartsAt, EndsAt    time.Time
}

// Notification is a Group handed over in the server's own process; Done gets whether
// it was taken (an error: the Alertmanager sends it again).
type Notification struct {
	Group Group
	Done  chan<- error
}

// toIncidents is the embedded Alertmanager's integration for IncidentReceiver: it hands
// each notification of an alert group to the incident manager in this process, with no
// HTTP, JSON or token between them, and waits for it to be taken.
type toIncidents struct {
	inbox chan<- Notification
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
	g := Group{Key: key.String(), Status: data.Status, Receiver: data.Receiver, GroupLabels: data.GroupLabels,
		CommonLabels: data.CommonLabels, CommonAnnotations: data.CommonAnnotations, ExternalURL: data.ExternalURL,
		Alerts: make([]GroupAlert, len(data.Alerts))}
	for i, a := range data.Alerts {
		g.Alerts[i] = GroupAlert{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt}
	}
	done := make(chan error, 1)
	select {
	case n.inbox <- Notification{Group: g, Done: done}:
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

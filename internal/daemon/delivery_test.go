package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/alerting"
	"github.com/tendhq/tend/internal/incident"
	"github.com/tendhq/tend/internal/store"
)

// The embedded Alertmanager's notifications reach the incident manager in the process,
// and the Alertmanager learns whether each was kept.
func TestAlertGroupsOfTheAlertmanagerOpenIncidents(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := incident.Open(context.Background(), incident.Options{Store: st, Config: &incident.Config{}, Dir: filepath.Join(dir, "incidents")})
	if err != nil {
		t.Fatal(err)
	}
	inbox := make(chan alerting.Notification)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); deliverAlerts(ctx, inbox, m, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	labels := map[string]string{"alertname": "Down", "app": "hello"}
	for _, g := range []alerting.Group{
		{Key: "g1", Status: "firing", Receiver: alerting.IncidentReceiver, GroupLabels: map[string]string{"alertname": "Down"}, CommonLabels: labels,
			Alerts: []alerting.GroupAlert{{Fingerprint: "f1", Status: "firing", Labels: labels, StartsAt: time.Now()}}},
		{Status: "firing"}, // no group key: refused, so the Alertmanager sends it again
	} {
		result := make(chan error, 1)
		inbox <- alerting.Notification{Group: g, Done: result}
		select {
		case err := <-result:
			if (err == nil) != (g.Key != "") {
				t.Errorf("notification %q: %v", g.Key, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer on Done")
		}
	}
	list, err := m.List(context.Background(), false)
	if err != nil || len(list) != 1 || list[0].Key != "g1" || list[0].Title == "" {
		t.Fatalf("incidents: %+v %v, want g1's", list, err)
	}
}

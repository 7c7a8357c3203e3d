package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/prometheus/notifier"
)

// sender delivers the rules manager's alerts to an Alertmanager's API v2, in the
// background: evaluation never waits for it. A batch that cannot be delivered is
// retried until the next batch replaces it (the rules manager resends active alerts
// every interval anyway).
type sender struct {
	url    *url.URL // …/api/v2/alerts
	client *http.Client
	log    *slog.Logger
	queue  chan []*notifier.Alert

	mu      sync.Mutex
	failing bool
}

func newSender(base *url.URL, client *http.Client, log *slog.Logger) *sender {
	u := base.JoinPath("api", "v2", "alerts")
	return &sender{url: u, client: client, log: log, queue: make(chan []*notifier.Alert, 64)}
}

// Send queues alerts for delivery; when the queue is full the oldest batch goes.
func (s *sender) Send(alerts ...*notifier.Alert) {
	for {
		select {
		case s.queue <- alerts:
			return
		default:
			select {
			case <-s.queue:
			default:
			}
		}
	}
}

func (s *sender) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-s.queue:
			for attempt := 0; ; attempt++ {
				err := s.post(ctx, batch)
				s.report(err)
				if err == nil || ctx.Err() != nil || attempt == 4 || len(s.queue) > 0 {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
				}
			}
		}
	}
}

func (s *sender) post(ctx context.Context, alerts []*notifier.Alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s answered %s: %s", s.url.Redacted(), resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// report logs the first failure and the recovery, not every attempt.
func (s *sender) report(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil && !s.failing:
		s.log.Error("alerts cannot reach the Alertmanager; retrying", "url", s.url.Redacted(), "err", err)
	case err == nil && s.failing:
		s.log.Info("alerts reach the Alertmanager again", "url", s.url.Redacted())
	}
	s.failing = err != nil
}

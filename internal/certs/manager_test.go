package certs

import (
	"testing"
	"time"
)

func TestRetryBacksOffAndStaysBeforeExpiry(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		failures int
		hasCert  bool
		notAfter time.Time
		want     time.Duration
	}{
		{1, false, time.Time{}, time.Minute},
		{2, false, time.Time{}, 2 * time.Minute},
		{7, false, time.Time{}, time.Hour},
		{30, false, time.Time{}, time.Hour},
		{7, true, now.Add(30 * 24 * time.Hour), time.Hour},
		{7, true, now.Add(90 * time.Minute), 30 * time.Minute}, // no later than an hour before expiry
		{3, true, now.Add(10 * time.Minute), time.Minute},      // but not in a tight loop
	} {
		if got := retryAt(now, c.failures, c.hasCert, c.notAfter).Sub(now); got != c.want {
			t.Errorf("retryAt after %d failures (cert %v, expiring in %s): in %s, want %s", c.failures, c.hasCert, time.Until(c.notAfter).Round(time.Minute), got, c.want)
		}
	}
}

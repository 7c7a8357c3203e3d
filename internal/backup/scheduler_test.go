package backup

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// One job's failures and retries do not hold another's schedule back, and a drill due
// with its job's backup runs too.
func TestTheSchedulerRunsJobsApartAndRetriesFailures(t *testing.T) {
	every, _, err := ParseSchedule("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := NewScheduler(nil, reg, nil)
	s.Backoff = 400 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	failing := Job{App: "shop", Name: "broken", Schedule: every, Every: time.Second, Target: Dir{Path: t.TempDir()}, Prefix: "shop-broken-", Ext: ".x",
		Write: func(context.Context, io.Writer) error { attempts++; return errors.New("the database is down") }}
	drills := 0
	good := Job{App: "shop", Name: "db", Schedule: every, Every: time.Second, Target: Dir{Path: t.TempDir()}, Prefix: "shop-db-", Ext: ".x",
		Retain:         Retention{Last: 100},
		Write:          func(_ context.Context, w io.Writer) error { _, err := w.Write([]byte("dump")); return err },
		VerifySchedule: every, Verify: func(_ context.Context, archive string) (string, error) { drills++; return "ok " + archive, nil }}
	s.Set(ctx, failing)
	s.Set(ctx, good)
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(3500 * time.Millisecond)
	cancel()
	<-done

	objs, err := good.Target.List(context.Background(), good.Prefix)
	if err != nil || len(objs) < 3 {
		t.Fatalf("the good job wrote %d archives in 3.5s (%v), want 3 or more while the other retried", len(objs), err)
	}
	if drills < 2 {
		t.Fatalf("%d drills ran, want one a second beside the backups", drills)
	}
	if attempts < 3 {
		t.Fatalf("the failing job was tried %d times, want its retries", attempts)
	}
	if got := testutil.ToFloat64(s.lastRn.WithLabelValues("shop", "broken")); got != 0 {
		t.Fatalf("tend_backup_last_run_success of the failing job: %v", got)
	}
	if got := testutil.ToFloat64(s.vOK.WithLabelValues("shop", "db")); got != 1 {
		t.Fatalf("tend_backup_last_verify_success: %v", got)
	}
	for _, st := range s.Status("shop") {
		if st.Name == "broken" && st.LastError == "" {
			t.Fatalf("the failing job's status has no error: %+v", st)
		}
	}
}

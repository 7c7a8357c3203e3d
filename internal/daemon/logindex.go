package daemon

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/internal/logs"
)

// logIndexInterval is how often the instance logs' trace index catches up with them.
const logIndexInterval = 2 * time.Second

// runLogIndex keeps the trace index of every instance log up to date, behind the
// instances' writes (they never wait for it), so that tend logs --trace reads a few
// chunks instead of every log.
func (s *server) runLogIndex(ctx context.Context) error {
	if s.cfg.Runtime == RuntimeKubernetes {
		<-ctx.Done() // the logs are in the cluster
		return nil
	}
	var indexed, left atomic.Int64
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tend_logs_indexed_bytes_total", Help: "Bytes of instance logs the trace index has read."},
			func() float64 { return float64(indexed.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tend_logs_unindexed_bytes", Help: "Bytes of instance logs the trace index has not read yet (searches read them whole)."},
			func() float64 { return float64(left.Load()) }))
	t := time.NewTicker(logIndexInterval)
	defer t.Stop()
	warned := false
	for {
		done, l, err := logs.IndexAll(s.dir)
		indexed.Add(done)
		left.Store(l)
		if err != nil && !warned {
			s.log.Warn("index instance logs by trace", "err", err)
		}
		warned = err != nil
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

package promrseq

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/percpu"
	"github.com/gorseq/rseq/rseqop/rseqoptest"
)

// fastPath skips a test that needs rseq where percpu runs on its fallbacks
// (the purego and 386 legs, kernels without rseq).
func fastPath(t *testing.T) {
	t.Helper()
	if st := percpu.Status(); !st.FastPath {
		t.Skipf("percpu's fast path is off (%s)", st.Reason)
	}
}

// opAborts returns a reader of the abort counter of percpu's op name.
func opAborts(t *testing.T, name string) func() uint64 {
	t.Helper()
	for _, s := range percpu.OpStats() {
		if s.Name == name {
			return func() uint64 {
				for _, s := range percpu.OpStats() {
					if s.Name == name {
						return s.Aborts
					}
				}
				return 0
			}
		}
	}
	t.Fatalf("percpu has no op %q", name)
	return nil
}

// TestMetricsAbortRestart interrupts a thread inside the critical sections
// promrseq's metrics use (Inc, Add of a fraction, Observe) until each
// section's abort path has run, and checks the exact totals: an aborted
// section restarts and adds once.
func TestMetricsAbortRestart(t *testing.T) {
	fastPath(t)
	for _, tc := range []struct {
		op     string // percpu's op the metric's hot path runs
		update func(*metricSet)
		value  func(*metricSet) float64
		per    float64
	}{
		{"CounterAdd", func(s *metricSet) { s.requests.Inc() }, func(s *metricSet) float64 { return write(t, s.requests).Counter.GetValue() }, 1},
		{"Float64CounterAdd", func(s *metricSet) { s.bytes.Add(0.25) }, func(s *metricSet) float64 { return write(t, s.bytes).Counter.GetValue() }, 0.25},
		{"ShardLock", func(s *metricSet) { s.latency.Observe(4) }, func(s *metricSet) float64 { return write(t, s.latency).Histogram.GetSampleSum() }, 4},
	} {
		t.Run(tc.op, func(t *testing.T) {
			s := newMetricSet(t)
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: opAborts(t, tc.op), Want: 20, Max: time.Minute},
				func(enough func() bool) error {
					n := 0
					for !enough() {
						for range 1000 {
							tc.update(s)
						}
						n += 1000
					}
					if got, want := tc.value(s), float64(n)*tc.per; got != want {
						return fmt.Errorf("%d updates: got %v, want %v", n, got, want)
					}
					return s.scrape()
				})
		})
	}
}

// TestMetricsExactUnderStorms updates every metric from workers that move
// between CPUs before every batch while a signal storm interrupts every
// thread and a scraper gathers: each scrape consistent, totals exact.
func TestMetricsExactUnderStorms(t *testing.T) {
	dur := 2 * time.Second
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	s := newMetricSet(t)
	var ops [4]atomic.Int64
	signals := testutil.StartSignalStorm(t, testutil.SignalStormOptions{Interval: 50 * time.Microsecond})
	migration := testutil.StartMigrationStorm(t, testutil.MigrationOptions{
		Workers: len(ops),
		Work: func(w int) {
			n := int(ops[w].Load())
			for i := range 100 {
				s.op(w, n+i)
			}
			ops[w].Add(100)
		},
	})
	deadline := time.Now().Add(dur)
	scrapes := 0
	for time.Now().Before(deadline) {
		if err := s.scrape(); err != nil {
			t.Fatal(err)
		}
		scrapes++
		time.Sleep(time.Millisecond)
	}
	if _, err := migration.Stop(); err != nil {
		t.Fatal(err)
	}
	st, err := signals.Stop()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := range ops {
		total += int(ops[i].Load())
	}
	t.Logf("%d updates, %d scrapes, signals %+v", total, scrapes, st)
	s.check(t, total)
}

package promrseq

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// stopClock makes created and exemplar timestamps read *at until the test
// ends (tests that call it must not run in parallel).
func stopClock(t *testing.T, at *time.Time) {
	t.Helper()
	saved := now
	now = func() time.Time { return *at }
	t.Cleanup(func() { now = saved })
}

// expectPanic fails the test unless op panics.
func expectPanic(t *testing.T, op func(), why string) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Error(why)
		}
	}()
	op()
}

// panicErr returns the error op panicked with, or nil.
func panicErr(op func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = r.(error)
		}
	}()
	op()
	return nil
}

// collected returns what c collects, written out.
func collected(t testing.TB, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var out []*dto.Metric
	for m := range ch {
		var w dto.Metric
		if err := m.Write(&w); err != nil {
			t.Fatal(err)
		}
		out = append(out, &w)
	}
	return out
}

// write returns m written out.
func write(t testing.TB, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var w dto.Metric
	if err := m.Write(&w); err != nil {
		t.Fatal(err)
	}
	return &w
}

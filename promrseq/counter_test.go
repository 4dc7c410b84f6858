package promrseq

// The tests of client_golang v1.25.0's prometheus/counter_test.go, ported to
// this package's counter (Copyright 2014 The Prometheus Authors, Apache
// License 2.0): where they read the counter's valInt and valBits these read
// its whole and fraction parts.

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// parts checks the counter's whole-number and float parts.
func parts(t *testing.T, c *counter, whole uint64, fraction float64) {
	t.Helper()
	if got := uint64(c.whole.Load()); got != whole {
		t.Errorf("whole part: got %d, want %d", got, whole)
	}
	if got := c.fraction.Load(); got != fraction {
		t.Errorf("float part: got %v, want %v", got, fraction)
	}
}

func TestCounterAdd(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	c := NewCounter(prometheus.CounterOpts{
		Name: "test", Help: "test help", ConstLabels: prometheus.Labels{"a": "1", "b": "2"},
	}).(*counter)
	c.Inc()
	parts(t, c, 1, 0)
	c.Add(42)
	parts(t, c, 43, 0)
	c.Add(24.42)
	parts(t, c, 43, 24.42)

	err := panicErr(func() { c.Add(-1) })
	if err == nil || err.Error() != "counter cannot decrease in value" {
		t.Errorf("Add(-1): got panic %v, want %q", err, "counter cannot decrease in value")
	}

	want := &dto.Metric{
		Label: []*dto.LabelPair{
			{Name: new("a"), Value: new("1")},
			{Name: new("b"), Value: new("2")},
		},
		Counter: &dto.Counter{Value: new(67.42), CreatedTimestamp: timestamppb.New(at)},
	}
	if got := write(t, c); !proto.Equal(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCounterVecGetMetricWithInvalidLabelValues(t *testing.T) {
	for _, tc := range []struct {
		why    string
		labels prometheus.Labels
	}{
		{"non utf8 label value", prometheus.Labels{"a": "\xFF"}},
		{"not enough label values", prometheus.Labels{}},
		{"too many label values", prometheus.Labels{"a": "1", "b": "2"}},
	} {
		vec := NewCounterVec(prometheus.CounterOpts{Name: "test"}, []string{"a"})
		values := make([]string, 0, len(tc.labels))
		for _, v := range tc.labels {
			values = append(values, v)
		}
		expectPanic(t, func() { vec.WithLabelValues(values...) }, "WithLabelValues: expected a panic: "+tc.why)
		expectPanic(t, func() { vec.With(tc.labels) }, "With: expected a panic: "+tc.why)
		if _, err := vec.GetMetricWithLabelValues(values...); err == nil {
			t.Errorf("GetMetricWithLabelValues: expected an error: %s", tc.why)
		}
		if _, err := vec.GetMetricWith(tc.labels); err == nil {
			t.Errorf("GetMetricWith: expected an error: %s", tc.why)
		}
	}
}

func TestCounterAddInf(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	c := NewCounter(prometheus.CounterOpts{Name: "test", Help: "test help"}).(*counter)
	c.Inc()
	parts(t, c, 1, 0)
	c.Add(math.Inf(1))
	parts(t, c, 1, math.Inf(1))
	c.Inc()
	parts(t, c, 2, math.Inf(1))
	want := &dto.Metric{Counter: &dto.Counter{Value: new(math.Inf(1)), CreatedTimestamp: timestamppb.New(at)}}
	if got := write(t, c); !proto.Equal(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCounterAddLarge(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	c := NewCounter(prometheus.CounterOpts{Name: "test", Help: "test help"}).(*counter)
	// Above the uint64 range: the float part keeps it.
	large := math.Nextafter(float64(math.MaxUint64), 1e20)
	c.Add(large)
	parts(t, c, 0, large)
	want := &dto.Metric{Counter: &dto.Counter{Value: new(large), CreatedTimestamp: timestamppb.New(at)}}
	if got := write(t, c); !proto.Equal(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCounterAddSmall(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	c := NewCounter(prometheus.CounterOpts{Name: "test", Help: "test help"}).(*counter)
	small := 0.000000000001
	c.Add(small)
	parts(t, c, 0, small)
	want := &dto.Metric{Counter: &dto.Counter{Value: new(small), CreatedTimestamp: timestamppb.New(at)}}
	if got := write(t, c); !proto.Equal(want, got) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCounterExemplar(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	c := NewCounter(prometheus.CounterOpts{Name: "test", Help: "test help"}).(*counter)
	want := &dto.Exemplar{
		Label:     []*dto.LabelPair{{Name: new("foo"), Value: new("bar")}},
		Value:     proto.Float64(42),
		Timestamp: timestamppb.New(at),
	}
	c.AddWithExemplar(42, prometheus.Labels{"foo": "bar"})
	if got := c.exemplar.Load(); got.String() != want.String() {
		t.Errorf("exemplar: got %s, want %s", got, want)
	}
	if panicErr(func() { c.AddWithExemplar(42, prometheus.Labels{"in\x80valid": "smile"}) }) == nil {
		t.Error("an exemplar with an invalid label name was added")
	}
	if panicErr(func() {
		c.AddWithExemplar(42, prometheus.Labels{ // 129 runes
			"abcdefghijklmnopqrstuvwxyz": "26+16 characters",
			"x1234567":                   "8+15 characters",
			"z":                          strings.Repeat("x", 63),
		})
	}) == nil {
		t.Error("an exemplar with labels of 129 runes was added")
	}
}

func TestCounterVecCreatedTimestampWithDeletes(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	vec := NewCounterVec(prometheus.CounterOpts{Name: "test", Help: "test help"}, []string{"label"})
	testCreatedTimestampsWithDeletes(t, &at, vec.MetricVec, func(lv string) { vec.WithLabelValues(lv) })
}

// testCreatedTimestampsWithDeletes creates metrics at different times,
// deletes and recreates one, and checks every created timestamp (the
// shape of client_golang's Test*VecCreatedTimestampWithDeletes).
func testCreatedTimestampsWithDeletes(t *testing.T, at *time.Time, vec *prometheus.MetricVec, create func(string)) {
	t.Helper()
	create("1") // the first use sets the created timestamp
	want := map[string]time.Time{"1": *at}
	*at = at.Add(time.Hour)
	expectCreated(t, vec, want)

	create("2")
	want["2"] = *at
	*at = at.Add(time.Hour)
	create("3")
	want["3"] = *at
	*at = at.Add(time.Hour)
	expectCreated(t, vec, want)

	vec.DeleteLabelValues("1") // a new metric, a new created timestamp
	create("1")
	want["1"] = *at
	*at = at.Add(time.Hour)
	expectCreated(t, vec, want)
}

func expectCreated(t *testing.T, vec *prometheus.MetricVec, want map[string]time.Time) {
	t.Helper()
	for lv, created := range want {
		m, err := vec.GetMetricWithLabelValues(lv)
		if err != nil {
			t.Fatal(err)
		}
		w := write(t, m)
		var got time.Time
		switch {
		case w.Counter != nil:
			got = w.Counter.CreatedTimestamp.AsTime()
		case w.Histogram != nil:
			got = w.Histogram.CreatedTimestamp.AsTime()
		default:
			t.Fatalf("unexpected metric %v", w)
		}
		if !got.Equal(created) {
			t.Errorf("created timestamp of %q: got %s, want %s", lv, got, created)
		}
	}
}

package promrseq

// The tests of client_golang v1.25.0's prometheus/histogram_test.go for
// classic histograms, ported to this package's histogram (Copyright 2015 The
// Prometheus Authors, Apache License 2.0). Native histograms are refused
// here (TestHistogramRefusesNative) instead of tested; TestBuckets tests
// client_golang's bucket helpers, which this package uses unchanged.

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/quick"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestHistogramNonMonotonicBuckets(t *testing.T) {
	for name, buckets := range map[string][]float64{
		"not strictly monotonic":  {1, 2, 2, 3},
		"not monotonic at all":    {1, 2, 4, 3, 5},
		"have +Inf in the middle": {1, 2, math.Inf(+1), 3},
	} {
		expectPanic(t, func() {
			NewHistogram(prometheus.HistogramOpts{Name: "test_histogram", Help: "helpless", Buckets: buckets})
		}, "NewHistogram did not panic on buckets that "+name)
	}
}

// testBuckets ends in +Inf on purpose: the implicit bucket given
// explicitly must be dropped.
var testBuckets = []float64{-2, -1, -0.5, 0, 0.5, 1, 2, math.Inf(+1)}

// cumulativeCounts counts vars into testBuckets, cumulatively.
func cumulativeCounts(vars []float64) []uint64 {
	counts := make([]uint64, len(testBuckets))
	for _, v := range vars {
		for i := range slices.Backward(testBuckets) {
			if v > testBuckets[i] {
				break
			}
			counts[i]++
		}
	}
	return counts
}

// checkBuckets compares m's buckets with testBuckets and the counts of vars.
func checkBuckets(t *testing.T, m *dto.Metric, vars []float64) {
	t.Helper()
	want := cumulativeCounts(vars)
	if got, wantN := len(m.Histogram.Bucket), len(testBuckets)-1; got != wantN && !math.IsInf(m.Histogram.Bucket[got-1].GetUpperBound(), +1) {
		t.Errorf("got %d buckets, want %d", got, wantN)
	}
	for i, bound := range testBuckets[:len(testBuckets)-1] {
		if got := m.Histogram.Bucket[i].GetUpperBound(); got != bound {
			t.Errorf("bucket %d: got bound %v, want %v", i, got, bound)
		}
		if got := m.Histogram.Bucket[i].GetCumulativeCount(); got != want[i] {
			t.Errorf("bucket %d: got count %d, want %d", i, got, want[i])
		}
	}
}

func TestHistogramConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in short mode")
	}
	it := func(n uint32) bool {
		mutations := int(n%1e4 + 1e4)
		conc := int(n%5 + 1)
		his := NewHistogram(prometheus.HistogramOpts{Name: "test_histogram", Help: "helpless", Buckets: testBuckets})
		var start, end sync.WaitGroup
		start.Add(1)
		end.Add(conc)
		all := make([]float64, 0, mutations*conc)
		var sum float64
		for range conc {
			vals := make([]float64, mutations)
			for j := range vals {
				vals[j] = rand.NormFloat64()
				sum += vals[j]
			}
			all = append(all, vals...)
			go func() {
				defer end.Done()
				start.Wait()
				for _, v := range vals {
					if n%2 == 0 {
						his.Observe(v)
					} else {
						his.(prometheus.ExemplarObserver).ObserveWithExemplar(v, prometheus.Labels{"foo": "bar"})
					}
				}
			}()
		}
		sort.Float64s(all)
		start.Done()
		end.Wait()
		m := write(t, his)
		if got, want := int(m.Histogram.GetSampleCount()), len(all); got != want {
			t.Errorf("sample count: got %d, want %d", got, want)
		}
		if got := m.Histogram.GetSampleSum(); math.Abs((got-sum)/sum) > 0.001 {
			t.Errorf("sample sum: got %f, want %f", got, sum)
		}
		checkBuckets(t, m, all)
		return true
	}
	if err := quick.Check(it, nil); err != nil {
		t.Error(err)
	}
}

func TestHistogramVecConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in short mode")
	}
	it := func(n uint32) bool {
		mutations := int(n%1e4 + 1e4)
		conc := int(n%7 + 1)
		vecLength := int(n%3 + 1)
		his := NewHistogramVec(prometheus.HistogramOpts{Name: "test_histogram", Help: "helpless", Buckets: testBuckets}, []string{"label"})
		var start, end sync.WaitGroup
		start.Add(1)
		end.Add(conc)
		all := make([][]float64, vecLength)
		sums := make([]float64, vecLength)
		for range conc {
			vals := make([]float64, mutations)
			picks := make([]int, mutations)
			for j := range vals {
				vals[j] = rand.NormFloat64()
				picks[j] = rand.Intn(vecLength)
				all[picks[j]] = append(all[picks[j]], vals[j])
				sums[picks[j]] += vals[j]
			}
			go func() {
				defer end.Done()
				start.Wait()
				for j, v := range vals {
					his.WithLabelValues(string('A' + rune(picks[j]))).Observe(v)
				}
			}()
		}
		start.Done()
		end.Wait()
		for i := range vecLength {
			m := write(t, his.WithLabelValues(string('A'+rune(i))).(prometheus.Histogram))
			if got, want := len(m.Histogram.Bucket), len(testBuckets)-1; got != want {
				t.Errorf("got %d buckets, want %d", got, want)
			}
			if got, want := int(m.Histogram.GetSampleCount()), len(all[i]); got != want {
				t.Errorf("sample count: got %d, want %d", got, want)
			}
			if got := m.Histogram.GetSampleSum(); math.Abs((got-sums[i])/sums[i]) > 0.001 {
				t.Errorf("sample sum: got %f, want %f", got, sums[i])
			}
			checkBuckets(t, m, all[i])
		}
		return true
	}
	if err := quick.Check(it, nil); err != nil {
		t.Error(err)
	}
}

// TestHistogramAtomicObserve scrapes while three goroutines observe 1: every
// scrape must have count == sum == the buckets above 1.
func TestHistogramAtomicObserve(t *testing.T) {
	his := NewHistogram(prometheus.HistogramOpts{Buckets: []float64{0.5, 10, 20}})
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
					his.Observe(1)
					time.Sleep(time.Nanosecond)
				}
			}
		})
	}
	defer wg.Wait()
	defer close(quit)
	// client_golang's test yields (runtime.Gosched) after each scrape; not
	// here: against three goroutines looping on time.Sleep the yield itself
	// can stall for a long time (100 yields took 21 s here with cgo and 36
	// us without, plain Go, no metrics), which tests the scheduler.
	for range 100 {
		h := write(t, his).GetHistogram()
		if h.GetSampleCount() != uint64(h.GetSampleSum()) ||
			h.GetSampleCount() != h.GetBucket()[1].GetCumulativeCount() ||
			h.GetSampleCount() != h.GetBucket()[2].GetCumulativeCount() {
			t.Fatalf("inconsistent counts: count=%d sum=%f buckets=[%d, %d]", h.GetSampleCount(), h.GetSampleSum(),
				h.GetBucket()[1].GetCumulativeCount(), h.GetBucket()[2].GetCumulativeCount())
		}
	}
}

func TestHistogramExemplar(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	his := NewHistogram(prometheus.HistogramOpts{Name: "test", Help: "test help", Buckets: []float64{1, 2, 3, 4}}).(*histogram)
	ts := timestamppb.New(at)
	exemplar := func(id string, v float64) *dto.Exemplar {
		return &dto.Exemplar{Label: []*dto.LabelPair{{Name: new("id"), Value: new(id)}}, Value: proto.Float64(v), Timestamp: ts}
	}
	want := []*dto.Exemplar{nil, exemplar("2", 1.6), nil, exemplar("3", 4), exemplar("4", 4.5)}

	his.ObserveWithExemplar(1.5, prometheus.Labels{"id": "1"})
	his.ObserveWithExemplar(1.6, prometheus.Labels{"id": "2"}) // replaces bucket 1's
	his.ObserveWithExemplar(4, prometheus.Labels{"id": "3"})
	his.ObserveWithExemplar(4.5, prometheus.Labels{"id": "4"}) // the +Inf bucket's
	for i := range his.exemplars {
		if got := his.exemplars[i].Load(); got.String() != want[i].String() {
			t.Errorf("bucket %d: got exemplar %s, want %s", i, got, want[i])
		}
	}
	// The +Inf bucket is written, to carry its exemplar.
	m := write(t, his)
	if n := len(m.Histogram.Bucket); n != 5 || !math.IsInf(m.Histogram.Bucket[4].GetUpperBound(), +1) ||
		m.Histogram.Bucket[4].GetCumulativeCount() != 4 || !proto.Equal(m.Histogram.Bucket[4].Exemplar, want[4]) {
		t.Errorf("written buckets: %v", m.Histogram.Bucket)
	}
}

func TestHistogramCreatedTimestamp(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	his := NewHistogram(prometheus.HistogramOpts{Name: "test", Help: "test help", Buckets: []float64{1, 2, 3, 4}})
	if got := write(t, his).Histogram.CreatedTimestamp.AsTime(); got.Unix() != at.Unix() {
		t.Errorf("created timestamp: got %d, want %d", got.Unix(), at.Unix())
	}
}

func TestHistogramVecCreatedTimestamp(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	vec := NewHistogramVec(prometheus.HistogramOpts{Name: "test", Help: "test help", Buckets: []float64{1, 2, 3, 4}}, []string{"label"})
	his := vec.WithLabelValues("value").(prometheus.Histogram)
	if got := write(t, his).Histogram.CreatedTimestamp.AsTime(); got.Unix() != at.Unix() {
		t.Errorf("created timestamp: got %d, want %d", got.Unix(), at.Unix())
	}
}

func TestHistogramVecCreatedTimestampWithDeletes(t *testing.T) {
	at := time.Now()
	stopClock(t, &at)
	vec := NewHistogramVec(prometheus.HistogramOpts{Name: "test", Help: "test help", Buckets: []float64{1, 2, 3, 4}}, []string{"label"})
	testCreatedTimestampsWithDeletes(t, &at, vec.MetricVec, func(lv string) { vec.WithLabelValues(lv) })
}

func TestFindBucket(t *testing.T) {
	small := &histogram{upperBounds: []float64{1, 2, 3, 4, 5}}
	large := &histogram{upperBounds: make([]float64, 50)}
	for i := range large.upperBounds {
		large.upperBounds[i] = float64(i)
	}
	for _, tc := range []struct {
		h    *histogram
		v    float64
		want int
	}{
		{small, -1, 0}, {small, 0.5, 0}, {small, 2.5, 2}, {small, 5.5, 5}, {small, math.NaN(), 5},
		{large, -1, 0}, {large, 25.5, 26}, {large, 49.5, 50}, {large, 50.5, 50}, {large, 5000.5, 50},
	} {
		if got := tc.h.findBucket(tc.v); got != tc.want {
			t.Errorf("findBucket(%v) with %d buckets = %d, want %d", tc.v, len(tc.h.upperBounds), got, tc.want)
		}
	}
}

// TestHistogramRefusesNative: every native histogram option is refused by
// name, by the constructors (a panic) and by ValidateHistogramOpts.
func TestHistogramRefusesNative(t *testing.T) {
	for field, opts := range map[string]prometheus.HistogramOpts{
		"NativeHistogramBucketFactor":     {NativeHistogramBucketFactor: 1.1},
		"NativeHistogramZeroThreshold":    {NativeHistogramZeroThreshold: 1e-9},
		"NativeHistogramMaxBucketNumber":  {NativeHistogramMaxBucketNumber: 100},
		"NativeHistogramMinResetDuration": {NativeHistogramMinResetDuration: time.Hour},
		"NativeHistogramMaxZeroThreshold": {NativeHistogramMaxZeroThreshold: 1},
		"NativeHistogramMaxExemplars":     {NativeHistogramMaxExemplars: 5},
		"NativeHistogramExemplarTTL":      {NativeHistogramExemplarTTL: time.Minute},
	} {
		opts.Name = "native"
		err := ValidateHistogramOpts(opts, nil)
		if !errors.Is(err, ErrNativeHistogram) || !containsAll(err.Error(), "native", field) {
			t.Errorf("%s: ValidateHistogramOpts = %v, want ErrNativeHistogram naming the field", field, err)
		}
		if got := panicErr(func() { NewHistogram(opts) }); !errors.Is(got, ErrNativeHistogram) {
			t.Errorf("%s: NewHistogram panicked with %v, want ErrNativeHistogram", field, got)
		}
		if got := panicErr(func() { NewHistogramVec(opts, []string{"l"}) }); !errors.Is(got, ErrNativeHistogram) {
			t.Errorf("%s: NewHistogramVec panicked with %v, want ErrNativeHistogram", field, got)
		}
	}
	if err := ValidateHistogramOpts(prometheus.HistogramOpts{Name: "classic"}, []string{"code"}); err != nil {
		t.Errorf("classic options refused: %v", err)
	}
}

func TestHistogramRefusesBucketLabel(t *testing.T) {
	expectPanic(t, func() {
		NewHistogram(prometheus.HistogramOpts{Name: "h", ConstLabels: prometheus.Labels{"le": "1"}})
	}, `NewHistogram accepted a constant label "le"`)
	expectPanic(t, func() {
		NewHistogramVec(prometheus.HistogramOpts{Name: "h"}, []string{"code", "le"})
	}, `NewHistogramVec accepted a variable label "le"`)
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

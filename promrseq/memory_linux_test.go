//go:build linux

package promrseq

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/percpu"
	"github.com/prometheus/client_golang/prometheus"
)

// bytesEach returns the resident memory that allocate takes (what it
// returns is kept alive until measured), divided by n.
func bytesEach(t testing.TB, n int, allocate func() any) float64 {
	t.Helper()
	before := testutil.ResidentBytes(t)
	made := allocate()
	after := testutil.ResidentBytes(t)
	runtime.KeepAlive(made)
	return float64(after-before) / float64(n)
}

// seriesBytes creates n series of a CounterVec with two labels, increments
// each once, and returns the resident bytes per series (the label values
// exist before, as they would in a program).
func seriesBytes(t testing.TB, api metricsAPI, n int) float64 {
	t.Helper()
	values := make([][2]string, n)
	for i := range values {
		values[i] = [2]string{"/api/v1/items/" + strconv.Itoa(i), strconv.Itoa(200 + i%5)}
	}
	defer runtime.KeepAlive(values)
	return bytesEach(t, n, func() any {
		vec := api.newCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests."}, []string{"path", "code"})
		for _, v := range values {
			api.counterWith(vec, v[0], v[1]).Inc()
		}
		return vec
	})
}

// TestSeriesMemory: a CounterVec series of this package costs at most twice
// client_golang's, measured side by side as resident memory (100k series
// each, two labels, incremented once).
func TestSeriesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 200k series")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is not the metrics'")
	}
	const n = 100_000
	vanilla := seriesBytes(t, vanillaAPI, n)
	ours := seriesBytes(t, promrseqAPI, n)
	t.Logf("bytes per CounterVec series: client_golang %.0f, promrseq %.0f (%d per-CPU slots: %s)", vanilla, ours, percpu.Status().Slots, percpu.Status().Index)
	if ours > 2*vanilla {
		t.Errorf("a series costs %.0f bytes, more than twice client_golang's %.0f", ours, vanilla)
	}
}

// TestHistogramMemory: a histogram of this package costs what
// client_golang's does plus its shards: (2 x slots + 1) shards of 112
// bytes (lock word, count, sum, bucket slice, a cache line of padding) and
// the buckets (8 bytes each) of every slot it was observed on. 20k
// histograms each, default buckets, observed once.
func TestHistogramMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 40k histograms")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is not the metrics'")
	}
	const n = 20_000
	perHistogram := func(api metricsAPI) float64 {
		return bytesEach(t, n, func() any {
			hs := make([]prometheus.Histogram, n)
			for i := range hs {
				hs[i] = api.newHistogram(prometheus.HistogramOpts{Name: "h", Help: "h"})
				hs[i].Observe(0.1)
			}
			return hs
		})
	}
	vanilla, ours := perHistogram(vanillaAPI), perHistogram(promrseqAPI)
	slots := max(percpu.Status().Slots, 1)
	shards := float64(2*slots+1) * 112
	buckets := float64(slots * 8 * len(prometheus.DefBuckets))
	t.Logf("bytes per histogram: client_golang %.0f, promrseq %.0f (%d slots: at most %.0f for shards and buckets)", vanilla, ours, slots, shards+buckets)
	if ours > vanilla+shards+buckets {
		t.Errorf("a histogram costs %.0f bytes, more than client_golang's %.0f plus %.0f for its shards and buckets", ours, vanilla, shards+buckets)
	}
}

// TestSeriesReclaim: series that a vector dropped (Reset, Delete) give
// their per-CPU words back once collected, the float part (a
// percpu.Float64Counter inside the counter, not at its start) too:
// creating and dropping 10k series 30 times keeps resident memory flat.
func TestSeriesReclaim(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 300k series")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is not the metrics'")
	}
	vec := NewCounterVec(prometheus.CounterOpts{Name: "reclaim_total", Help: "h"}, []string{"id"})
	ids := make([]string, 10_000)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	round := func() {
		for _, id := range ids {
			c := vec.WithLabelValues(id)
			c.Inc()
			c.Add(0.5)
		}
		if got := write(t, vec.WithLabelValues("17")).Counter.GetValue(); got != 1.5 {
			t.Fatalf("a new series reads %v after Inc and Add(0.5), want 1.5", got)
		}
		vec.Reset()
	}
	var base int64
	for r := range 30 {
		round()
		if r == 2 {
			base = testutil.ResidentBytes(t)
		}
	}
	grown := testutil.ResidentBytes(t) - base
	t.Logf("resident memory after 30 rounds of 10k series: %+d bytes since round 3", grown)
	if grown > 4<<20 {
		t.Errorf("resident memory grew by %d bytes over 27 rounds of 10k dropped series: their words are not reused", grown)
	}
}

// BenchmarkSeriesMemory reports the resident bytes of one CounterVec series
// (two labels, incremented once) per implementation, as TestSeriesMemory
// measures them.
func BenchmarkSeriesMemory(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(seriesBytes(b, impl.api, 100_000), "B/series")
			}
		})
	}
}

package promrseq

import (
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The benchmarks run client_golang's shapes (prometheus/benchmark_test.go
// and histogram_test.go of v1.25.0; the WithWork shapes of client_golang PR
// #1970; the parallel shapes of promlabs/prometheus-otel-benchmarks) on
// every implementation side by side in one binary, named for benchstat:
//
//	impl=vanilla   client_golang v1.25.0
//	impl=promrseq  this package
//	impl=xsync     client_golang's counter on xsync.Counter (PR #2052's design; counters only)
//
// go test -run '^$' -bench . -cpu 1,2 (make bench-promrseq).

var benchImpls = []struct {
	name string
	api  metricsAPI
}{
	{"vanilla", vanillaAPI},
	{"promrseq", promrseqAPI},
}

// counterImpls adds the xsync-backed counter to benchImpls.
func counterImpls() []struct {
	name string
	new  func(prometheus.CounterOpts) prometheus.Counter
} {
	return []struct {
		name string
		new  func(prometheus.CounterOpts) prometheus.Counter
	}{
		{"vanilla", prometheus.NewCounter},
		{"promrseq", NewCounter},
		{"xsync", newXsyncCounter},
	}
}

var counterOpts = prometheus.CounterOpts{Name: "benchmark_counter", Help: "A counter to benchmark it."}

// BenchmarkCounterNoLabels: Inc from one goroutine (client_golang's shape).
func BenchmarkCounterNoLabels(b *testing.B) {
	for _, impl := range counterImpls() {
		b.Run("impl="+impl.name, func(b *testing.B) {
			c := impl.new(counterOpts)
			b.ReportAllocs()
			for b.Loop() {
				c.Inc()
			}
		})
	}
}

// BenchmarkParallelCounter: Inc from every P (client_golang's
// BenchmarkParallelCounter, prometheus-otel-benchmarks' CounterParallel).
func BenchmarkParallelCounter(b *testing.B) {
	for _, impl := range counterImpls() {
		b.Run("impl="+impl.name, func(b *testing.B) {
			c := impl.new(counterOpts)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Inc()
				}
			})
		})
	}
}

// BenchmarkParallelCounterAdd: Add of a fraction from every P (the float
// path: client_golang's compare-and-swap loop).
func BenchmarkParallelCounterAdd(b *testing.B) {
	for _, impl := range counterImpls() {
		b.Run("impl="+impl.name, func(b *testing.B) {
			c := impl.new(counterOpts)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Add(1.5)
				}
			})
		})
	}
}

// BenchmarkCounterWithLabelValuesConcurrent: 10 goroutines look the series
// up and Inc it (client_golang's shape).
func BenchmarkCounterWithLabelValuesConcurrent(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			vec := impl.api.newCounterVec(counterOpts, []string{"one", "two", "three"})
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					for range b.N / 10 {
						impl.api.counterWith(vec, "eins", "zwei", "drei").Inc()
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkCounterWithLabelsParallel and BenchmarkCounterWithCachedLabelsParallel:
// prometheus-otel-benchmarks' shapes, the series looked up per Inc or once.
func BenchmarkCounterWithLabelsParallel(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			vec := impl.api.newCounterVec(counterOpts, []string{"label1", "label2"})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					impl.api.counterWith(vec, "value1", "value2").Inc()
				}
			})
		})
	}
}

func BenchmarkCounterWithCachedLabelsParallel(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			c := impl.api.counterWith(impl.api.newCounterVec(counterOpts, []string{"label1", "label2"}), "value1", "value2")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Inc()
				}
			})
		})
	}
}

var histogramOpts = prometheus.HistogramOpts{Name: "benchmark_histogram", Help: "A histogram to benchmark it."}

// BenchmarkHistogramNoLabels: Observe from one goroutine (client_golang's shape).
func BenchmarkHistogramNoLabels(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			h := impl.api.newHistogram(histogramOpts)
			b.ReportAllocs()
			for b.Loop() {
				h.Observe(3.1415)
			}
		})
	}
}

// BenchmarkHistogramObserve: w goroutines observe b.N values each
// (client_golang's BenchmarkHistogramObserve1/2/4/8).
func BenchmarkHistogramObserve(b *testing.B) {
	for _, impl := range benchImpls {
		for _, w := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("impl=%s/goroutines=%d", impl.name, w), func(b *testing.B) {
				h := impl.api.newHistogram(prometheus.HistogramOpts{})
				var start, end sync.WaitGroup
				start.Add(1)
				for range w {
					end.Go(func() {
						start.Wait()
						for i := range b.N {
							h.Observe(float64(i))
						}
					})
				}
				b.ResetTimer()
				start.Done()
				end.Wait()
			})
		}
	}
}

// BenchmarkHistogramParallel, BenchmarkHistogramWithLabelsParallel and
// BenchmarkHistogramWithCachedLabelsParallel: prometheus-otel-benchmarks'
// histogram shapes (values spread over the default buckets).
func BenchmarkHistogramParallel(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			h := impl.api.newHistogram(histogramOpts)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				v := 0.0
				for pb.Next() {
					h.Observe(v)
					v = nextObservation(v)
				}
			})
		})
	}
}

func BenchmarkHistogramWithLabelsParallel(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			vec := impl.api.newHistogramVec(histogramOpts, []string{"label1", "label2"})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				v := 0.0
				for pb.Next() {
					vec.WithLabelValues("value1", "value2").Observe(v)
					v = nextObservation(v)
				}
			})
		})
	}
}

func BenchmarkHistogramWithCachedLabelsParallel(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			h := impl.api.newHistogramVec(histogramOpts, []string{"label1", "label2"}).WithLabelValues("value1", "value2")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				v := 0.0
				for pb.Next() {
					h.Observe(v)
					v = nextObservation(v)
				}
			})
		})
	}
}

// nextObservation walks 0 to 12 in steps that visit every default bucket.
func nextObservation(v float64) float64 {
	if v += 0.0137; v > 12 {
		return 0
	}
	return v
}

// work is the WithWork benchmarks' computation between two metric updates
// (10,000 iterations, a few microseconds, as client_golang#1748's reporter
// measured a 10x latency regression with); its result is kept so that the
// compiler cannot drop it.
func work(seed uint64) uint64 {
	x := seed | 1
	for range 10_000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var workSink uint64

// withWork runs op after work on conc goroutines, b.N operations in all.
func withWork(b *testing.B, conc int, op func()) {
	b.ReportAllocs()
	var wg sync.WaitGroup
	var sink uint64
	var mu sync.Mutex
	for g := range conc {
		wg.Go(func() {
			var local uint64
			for i := g; i < b.N; i += conc {
				local += work(uint64(i))
				op()
			}
			mu.Lock()
			sink += local
			mu.Unlock()
		})
	}
	wg.Wait()
	workSink = sink
}

// BenchmarkCounterAddWithWork, BenchmarkCounterIncWithWork and
// BenchmarkHistogramObserveWithWork: client_golang PR #1970's shapes, at
// concurrency 1, 2, 4 and 8.
func BenchmarkCounterAddWithWork(b *testing.B) {
	for _, impl := range counterImpls() {
		for _, conc := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("impl=%s/conc=%d", impl.name, conc), func(b *testing.B) {
				c := impl.new(counterOpts)
				withWork(b, conc, func() { c.Add(1.5) })
			})
		}
	}
}

func BenchmarkCounterIncWithWork(b *testing.B) {
	for _, impl := range counterImpls() {
		for _, conc := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("impl=%s/conc=%d", impl.name, conc), func(b *testing.B) {
				c := impl.new(counterOpts)
				withWork(b, conc, c.Inc)
			})
		}
	}
}

func BenchmarkHistogramObserveWithWork(b *testing.B) {
	for _, impl := range benchImpls {
		for _, conc := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("impl=%s/conc=%d", impl.name, conc), func(b *testing.B) {
				h := impl.api.newHistogram(histogramOpts)
				withWork(b, conc, func() { h.Observe(1.5) })
			})
		}
	}
}

// BenchmarkHistogramWrite: a scrape of a histogram with 1e6 observations
// (client_golang's BenchmarkHistogramWrite1).
func BenchmarkHistogramWrite(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			h := impl.api.newHistogram(prometheus.HistogramOpts{})
			for i := range 1_000_000 {
				h.Observe(float64(i))
			}
			b.ReportAllocs()
			for b.Loop() {
				write(b, h)
			}
		})
	}
}

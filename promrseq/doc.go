// Package promrseq gives Prometheus client_golang's counters and histograms
// per-CPU storage: the same metrics, registered with any
// prometheus.Registerer and served by promhttp unchanged, whose hot paths
// update the calling CPU's words inside an rseq critical section (package
// percpu) instead of atomic read-modify-writes on words every CPU shares.
//
//	requests := promrseq.NewCounterVec(prometheus.CounterOpts{
//		Name: "http_requests_total", Help: "Requests served, by status code.",
//	}, []string{"code"})
//	latency := promrseq.NewHistogram(prometheus.HistogramOpts{
//		Name: "http_request_duration_seconds", Help: "Request latency.",
//	})
//	prometheus.MustRegister(requests, latency)
//
// # What each metric is built of
//
// A Counter keeps what client_golang's keeps, in two parts: adds of whole
// numbers (Inc, Add(1), Add(42)) go to a percpu.Counter, every other value
// to a percpu.Float64Counter, and a scrape reports their sum. A Counter
// that only ever counts whole numbers never creates its float part.
//
// A Histogram keeps its classic buckets, count and sum once per CPU in a
// percpu.Sharded value: Observe finds the bucket, then updates the calling
// CPU's copy under that copy's lock (taken with one critical section, no
// atomic instruction on the way in). A scrape visits every copy under its
// lock, so each copy contributes whole observations only: in every scrape
// the _count equals the +Inf bucket and the _sum is the sum of exactly the
// observations counted, however many goroutines observe meanwhile.
//
// Exemplars (prometheus.ExemplarAdder, prometheus.ExemplarObserver) and
// created timestamps behave as client_golang's, and for the same operations
// Gather returns what client_golang's metrics return (text and protobuf;
// tested). Vectors are client_golang's own prometheus.MetricVec with these
// metrics in it: With, WithLabelValues, CurryWith, Delete,
// DeletePartialMatch, Reset and the constrained labels of
// prometheus.CounterVecOpts and prometheus.HistogramVecOpts (V2) work as
// they do there.
//
// # What it does not do
//
// Native (sparse) histograms are not supported: NewHistogram and
// NewHistogramVec panic, as client_golang does on invalid buckets, when any
// NativeHistogram option is set, rather than drop it; ValidateHistogramOpts
// reports the same error without panicking. Use client_golang's histogram
// for native histograms.
//
// Gauges stay client_golang's. A gauge's defining operation is Set: one
// store of the whole value, which per-CPU storage cannot do without
// stopping every CPU's updates (a Set must replace what each CPU added), and
// which is already one uncontended store in client_golang. Gauges that are
// only ever added to are counters that may go down: use a percpu.Counter and
// prometheus.NewGaugeFunc.
//
// # Cost
//
// Inc, Add and Observe cost an rseq critical section on the calling CPU's
// words: measured on 2 cores, 14 to 32 times less than client_golang's
// atomics when every core updates the same series, 1.7 to 2.5 times less
// on one core. A scrape costs more (it sums the per-CPU copies): about twice
// client_golang's Write for a histogram.
//
// Memory per counter series is client_golang's plus 8 bytes per CPU (or
// mm_cid) slot the counter was incremented on, and 8 more per slot once it
// got a fractional Add (see percpu.Counter): 559 bytes against 542 on 2
// slots, about 1.6 KB on 128 CPUs all counting. A histogram adds 2 x slots +
// 1 shards of 112 bytes and its buckets per slot it was observed on (40 KB
// more on 128 slots): use them for hot series. The module's README.md has
// the tables.
//
// Where rseq is unavailable (see percpu.Status) every metric keeps working
// on percpu's fallbacks.
package promrseq

package promrseq

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// consistencyBounds are the buckets of the consistency tests; each writer
// observes only the bounds themselves, so a scrape's sum is determined by
// its bucket counts (and is exact: small binary fractions).
var consistencyBounds = []float64{0.5, 1, 4}

// checkScrape checks one gathered histogram: count equals the +Inf
// bucket (the last cumulative count, every observation being at most 4)
// and the sum is that of exactly the observations counted.
func checkScrape(h *dto.Histogram) error {
	var prev uint64
	var sum float64
	for i, b := range h.Bucket {
		n := b.GetCumulativeCount() - prev
		prev = b.GetCumulativeCount()
		sum += float64(n) * consistencyBounds[i]
	}
	if h.GetSampleCount() != prev {
		return fmt.Errorf("_count %d but the +Inf bucket holds %d", h.GetSampleCount(), prev)
	}
	if h.GetSampleSum() != sum {
		return fmt.Errorf("_sum %v but the counted observations sum to %v (buckets %v)", h.GetSampleSum(), sum, h.Bucket)
	}
	return nil
}

// metricSet is what the writers of the consistency tests update.
type metricSet struct {
	reg       *prometheus.Registry
	requests  prometheus.Counter
	bytes     prometheus.Counter
	latency   prometheus.Histogram
	perWriter *HistogramVec
}

func newMetricSet(t testing.TB) *metricSet {
	s := &metricSet{
		reg:       prometheus.NewPedanticRegistry(),
		requests:  NewCounter(prometheus.CounterOpts{Name: "requests_total", Help: "h"}),
		bytes:     NewCounter(prometheus.CounterOpts{Name: "bytes_total", Help: "h"}),
		latency:   NewHistogram(prometheus.HistogramOpts{Name: "latency", Help: "h", Buckets: consistencyBounds}),
		perWriter: NewHistogramVec(prometheus.HistogramOpts{Name: "latency_by_writer", Help: "h", Buckets: consistencyBounds}, []string{"writer"}),
	}
	s.reg.MustRegister(s.requests, s.bytes, s.latency, s.perWriter)
	return s
}

// op is writer w's i-th update of every metric.
func (s *metricSet) op(w, i int) {
	v := consistencyBounds[(w+i)%len(consistencyBounds)]
	s.requests.Inc()
	s.bytes.Add(0.25)
	s.latency.Observe(v)
	s.perWriter.WithLabelValues(fmt.Sprint(w % 4)).Observe(v)
}

// scrape gathers s and checks every histogram in it.
func (s *metricSet) scrape() error {
	families, err := s.reg.Gather()
	if err != nil {
		return err
	}
	for _, f := range families {
		for _, m := range f.Metric {
			if m.Histogram != nil {
				if err := checkScrape(m.Histogram); err != nil {
					return fmt.Errorf("%s%v: %w", f.GetName(), m.Label, err)
				}
			}
		}
	}
	return nil
}

// check verifies the totals after ops updates.
func (s *metricSet) check(t testing.TB, ops int) {
	t.Helper()
	if err := s.scrape(); err != nil {
		t.Error(err)
	}
	if got := write(t, s.requests).Counter.GetValue(); got != float64(ops) {
		t.Errorf("requests_total = %v, want %d", got, ops)
	}
	if got := write(t, s.bytes).Counter.GetValue(); got != float64(ops)/4 {
		t.Errorf("bytes_total = %v, want %v", got, float64(ops)/4)
	}
	if got := write(t, s.latency).Histogram.GetSampleCount(); got != uint64(ops) {
		t.Errorf("latency count = %d, want %d", got, ops)
	}
	var byWriter uint64
	for _, m := range collected(t, s.perWriter) {
		byWriter += m.Histogram.GetSampleCount()
	}
	if byWriter != uint64(ops) {
		t.Errorf("latency_by_writer counts sum to %d, want %d", byWriter, ops)
	}
}

// TestScrapeConsistency runs a scraper against 8 writers on every CPU:
// every scrape's histograms are consistent, and the totals are exact.
func TestScrapeConsistency(t *testing.T) {
	const writers = 8
	perWriter := 200_000
	if testing.Short() {
		perWriter = 20_000
	}
	s := newMetricSet(t)
	var (
		wg        sync.WaitGroup
		done      atomic.Bool
		scrapes   int
		scrapeErr error
	)
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for !done.Load() && scrapeErr == nil {
			scrapeErr = s.scrape()
			scrapes++
			runtime.Gosched()
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s.op(w, i)
			}
		})
	}
	wg.Wait()
	done.Store(true)
	<-scraped
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	if scrapes < 2 {
		t.Errorf("only %d scrapes ran during the writes: the test proves nothing", scrapes)
	}
	t.Logf("%d scrapes during %d updates", scrapes, writers*perWriter)
	s.check(t, writers*perWriter)
}

package promrseq

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// metricsAPI is what the exposition test calls: client_golang's
// constructors or this package's.
type metricsAPI struct {
	newCounter      func(prometheus.CounterOpts) prometheus.Counter
	newCounterVec   func(prometheus.CounterOpts, []string) prometheus.Collector
	counterWith     func(prometheus.Collector, ...string) prometheus.Counter
	newHistogram    func(prometheus.HistogramOpts) prometheus.Histogram
	newHistogramVec func(prometheus.HistogramOpts, []string) prometheus.ObserverVec
}

var (
	vanillaAPI = metricsAPI{
		newCounter: prometheus.NewCounter,
		newCounterVec: func(o prometheus.CounterOpts, l []string) prometheus.Collector {
			return prometheus.NewCounterVec(o, l)
		},
		counterWith: func(c prometheus.Collector, lvs ...string) prometheus.Counter {
			return c.(*prometheus.CounterVec).WithLabelValues(lvs...)
		},
		newHistogram: prometheus.NewHistogram,
		newHistogramVec: func(o prometheus.HistogramOpts, l []string) prometheus.ObserverVec {
			return prometheus.NewHistogramVec(o, l)
		},
	}
	promrseqAPI = metricsAPI{
		newCounter: NewCounter,
		newCounterVec: func(o prometheus.CounterOpts, l []string) prometheus.Collector {
			return NewCounterVec(o, l)
		},
		counterWith: func(c prometheus.Collector, lvs ...string) prometheus.Counter {
			return c.(*CounterVec).WithLabelValues(lvs...)
		},
		newHistogram: NewHistogram,
		newHistogramVec: func(o prometheus.HistogramOpts, l []string) prometheus.ObserverVec {
			return NewHistogramVec(o, l)
		},
	}
)

// exercise registers one of each metric with reg and runs the same
// operations on them: whole and fractional adds, exemplars, constant and
// variable labels, units, curried vectors, default and custom buckets,
// +Inf and NaN observations, a deleted series.
func exercise(t *testing.T, api metricsAPI, reg *prometheus.Registry) {
	t.Helper()
	plain := api.newCounter(prometheus.CounterOpts{Namespace: "app", Subsystem: "http", Name: "requests_total", Help: "Requests."})
	unit := api.newCounter(prometheus.CounterOpts{Name: "sent_bytes_total", Help: "Bytes.", Unit: "bytes", ConstLabels: prometheus.Labels{"zone": "b", "app": "x"}})
	vec := api.newCounterVec(prometheus.CounterOpts{Name: "errors_total", Help: "Errors by code.", ConstLabels: prometheus.Labels{"svc": "api"}}, []string{"code", "method"})
	lat := api.newHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Help: "Latency."})
	size := api.newHistogramVec(prometheus.HistogramOpts{Name: "size", Help: "Sizes.", Buckets: []float64{1, 10, 100, math.Inf(+1)}}, []string{"kind"})
	weird := api.newHistogram(prometheus.HistogramOpts{Name: "weird", Help: "NaN and infinities.", Buckets: []float64{0}})
	reg.MustRegister(plain, unit, vec, lat, size, weird)

	plain.Inc()
	plain.Add(41)
	plain.Add(0.5)
	plain.(prometheus.ExemplarAdder).AddWithExemplar(2, prometheus.Labels{"trace_id": "abc"})
	unit.Add(1 << 40)
	unit.Add(0.125)
	api.counterWith(vec, "500", "GET").Inc()
	api.counterWith(vec, "404", "GET").Add(3)
	api.counterWith(vec, "200", "PUT").Inc()
	api.counterWith(vec, "404", "POST").(prometheus.ExemplarAdder).AddWithExemplar(1.5, prometheus.Labels{"user": "u"})
	vec.(interface{ DeleteLabelValues(...string) bool }).DeleteLabelValues("200", "PUT")
	for _, v := range []float64{0.001, 0.25, 0.5, 3, 7.5, 100} {
		lat.Observe(v)
	}
	lat.(prometheus.ExemplarObserver).ObserveWithExemplar(0.75, prometheus.Labels{"trace_id": "def"})
	lat.(prometheus.ExemplarObserver).ObserveWithExemplar(20, prometheus.Labels{"trace_id": "inf"}) // +Inf's exemplar
	big := size.MustCurryWith(prometheus.Labels{"kind": "big"})
	big.WithLabelValues().Observe(1000)
	size.WithLabelValues("small").Observe(1)
	size.WithLabelValues("small").Observe(9.5)
	size.With(prometheus.Labels{"kind": "small"}).(prometheus.ExemplarObserver).ObserveWithExemplar(10, prometheus.Labels{"a": "b"})
	weird.Observe(math.Inf(-1))
	weird.Observe(math.Inf(+1))
	weird.Observe(math.NaN())
}

// normalize sets every created and exemplar timestamp to one value (the
// two libraries stamp with the clock at different instants) and every NaN
// sum to math.NaN(): which NaN an addition returns depends on the order of
// the additions (on amd64 the first NaN operand's bits), and this
// package's histogram adds per CPU, then across CPUs.
func normalize(families []*dto.MetricFamily) {
	ts := timestamppb.New(time.Unix(1700000000, 0))
	for _, f := range families {
		for _, m := range f.Metric {
			if c := m.Counter; c != nil {
				if c.CreatedTimestamp != nil {
					c.CreatedTimestamp = ts
				}
				if c.Exemplar != nil {
					c.Exemplar.Timestamp = ts
				}
			}
			if h := m.Histogram; h != nil {
				if math.IsNaN(h.GetSampleSum()) {
					h.SampleSum = new(math.NaN())
				}
				if h.CreatedTimestamp != nil {
					h.CreatedTimestamp = ts
				}
				for _, b := range h.Bucket {
					if b.Exemplar != nil {
						b.Exemplar.Timestamp = ts
					}
				}
			}
		}
	}
}

// encodeAll writes families in format.
func encodeAll(t *testing.T, families []*dto.MetricFamily, format expfmt.Format, opts ...expfmt.EncoderOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format, opts...)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestExpositionMatchesClientGolang: the same operations on client_golang's
// metrics and on this package's gather to the same families, and encode to
// the same bytes in the text format, OpenMetrics (with exemplars, units and
// _created lines) and delimited protobuf.
func TestExpositionMatchesClientGolang(t *testing.T) {
	gather := func(api metricsAPI) []*dto.MetricFamily {
		reg := prometheus.NewPedanticRegistry()
		exercise(t, api, reg)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		normalize(families)
		return families
	}
	want, got := gather(vanillaAPI), gather(promrseqAPI)
	if len(got) != len(want) {
		t.Fatalf("%d families, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("family %s:\n got %v\nwant %v", want[i].GetName(), got[i], want[i])
		}
	}
	for _, f := range []struct {
		name   string
		format expfmt.Format
		opts   []expfmt.EncoderOption
	}{
		{"text", expfmt.NewFormat(expfmt.TypeTextPlain), nil},
		{"openmetrics", expfmt.NewFormat(expfmt.TypeOpenMetrics), []expfmt.EncoderOption{expfmt.WithCreatedLines()}},
		{"protobuf", expfmt.NewFormat(expfmt.TypeProtoDelim), nil},
	} {
		w, g := encodeAll(t, want, f.format, f.opts...), encodeAll(t, got, f.format, f.opts...)
		if !bytes.Equal(w, g) {
			t.Errorf("%s differs:\n got:\n%s\nwant:\n%s", f.name, g, w)
		}
		if len(w) == 0 {
			t.Errorf("%s: nothing encoded", f.name)
		}
	}
	if testing.Verbose() {
		t.Logf("OpenMetrics:\n%s", encodeAll(t, got, expfmt.NewFormat(expfmt.TypeOpenMetrics), expfmt.WithCreatedLines()))
	}
}

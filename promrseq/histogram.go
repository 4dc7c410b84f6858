package promrseq

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"

	"github.com/gorseq/rseq/percpu"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewHistogram returns a prometheus.Histogram with classic buckets on
// per-CPU storage, made from opts as prometheus.NewHistogram makes one. It
// also implements prometheus.ExemplarObserver (one exemplar per bucket).
//
// It panics, as client_golang's does, if the buckets are not in strictly
// increasing order or a constant label is named "le", and also if opts asks
// for a native histogram (see ValidateHistogramOpts).
func NewHistogram(opts prometheus.HistogramOpts) prometheus.Histogram {
	bounds := mustBounds(opts, nil)
	desc := newDesc(opts.Namespace, opts.Subsystem, opts.Name, opts.Help, opts.Unit,
		prometheus.UnconstrainedLabels(nil), opts.ConstLabels)
	return newHistogram(desc, bounds, prometheus.MakeLabelPairs(desc, nil))
}

// ErrNativeHistogram is what ValidateHistogramOpts wraps when HistogramOpts
// set a native histogram option.
var ErrNativeHistogram = errors.New("promrseq: native histograms are not supported (use prometheus.NewHistogram for them)")

var errBucketLabel = errors.New(`"le" is not allowed as label name in histograms`)

// ValidateHistogramOpts reports why NewHistogram or NewHistogramVec (with
// labelNames) would panic on opts: a NativeHistogram option set (even one
// client_golang would ignore because NativeHistogramBucketFactor is not
// above 1: asking for a native histogram here is refused, not dropped),
// buckets not in strictly increasing order, or a label named "le".
func ValidateHistogramOpts(opts prometheus.HistogramOpts, labelNames []string) error {
	_, err := histogramBounds(opts, labelNames)
	return err
}

// histogramBounds checks opts and returns the upper bounds of the buckets
// without the implicit +Inf one.
func histogramBounds(opts prometheus.HistogramOpts, labelNames []string) ([]float64, error) {
	for _, native := range []struct {
		field string
		set   bool
	}{
		{"NativeHistogramBucketFactor", opts.NativeHistogramBucketFactor != 0},
		{"NativeHistogramZeroThreshold", opts.NativeHistogramZeroThreshold != 0},
		{"NativeHistogramMaxBucketNumber", opts.NativeHistogramMaxBucketNumber != 0},
		{"NativeHistogramMinResetDuration", opts.NativeHistogramMinResetDuration != 0},
		{"NativeHistogramMaxZeroThreshold", opts.NativeHistogramMaxZeroThreshold != 0},
		{"NativeHistogramMaxExemplars", opts.NativeHistogramMaxExemplars != 0},
		{"NativeHistogramExemplarTTL", opts.NativeHistogramExemplarTTL != 0},
	} {
		if native.set {
			return nil, fmt.Errorf("%w: %s: HistogramOpts.%s is set", ErrNativeHistogram,
				prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name), native.field)
		}
	}
	for _, name := range labelNames {
		if name == "le" {
			return nil, errBucketLabel
		}
	}
	if _, ok := opts.ConstLabels["le"]; ok {
		return nil, errBucketLabel
	}
	bounds := opts.Buckets
	if len(bounds) == 0 {
		bounds = prometheus.DefBuckets
	}
	for i, b := range bounds {
		if i < len(bounds)-1 {
			if b >= bounds[i+1] {
				return nil, fmt.Errorf("histogram buckets must be in increasing order: %f >= %f", b, bounds[i+1])
			}
		} else if math.IsInf(b, +1) {
			bounds = bounds[:i] // the +Inf bucket is implicit
		}
	}
	return bounds, nil
}

func mustBounds(opts prometheus.HistogramOpts, labelNames []string) []float64 {
	bounds, err := histogramBounds(opts, labelNames)
	if err != nil {
		panic(err)
	}
	return bounds
}

// histogram is NewHistogram's and HistogramVec's metric.
type histogram struct {
	desc        *prometheus.Desc
	upperBounds []float64 // without +Inf
	labelPairs  []*dto.LabelPair
	created     *timestamppb.Timestamp
	exemplars   []atomic.Pointer[dto.Exemplar] // one per bucket, +Inf's last
	shards      percpu.Sharded[histogramShard]
}

// histogramShard is one CPU's (or one locked shard's) part of a histogram:
// whole observations only, since each is added under the shard's lock.
type histogramShard struct {
	count   uint64
	sum     float64
	buckets []uint64 // per bucket, not cumulative, +Inf's not kept (count minus the rest); made by the first observation
}

func newHistogram(desc *prometheus.Desc, upperBounds []float64, labelPairs []*dto.LabelPair) *histogram {
	return &histogram{
		desc:        desc,
		upperBounds: upperBounds,
		labelPairs:  labelPairs,
		created:     timestamppb.New(now()),
		exemplars:   make([]atomic.Pointer[dto.Exemplar], len(upperBounds)+1),
	}
}

// Observe adds v to the calling CPU's copy of the buckets, count and sum.
func (h *histogram) Observe(v float64) {
	h.observe(v, h.findBucket(v))
}

// ObserveWithExemplar observes v and, unless labels is nil, replaces the
// exemplar of v's bucket with one of v, the current time and labels. It
// panics if the labels are invalid or longer than
// prometheus.ExemplarMaxRunes.
func (h *histogram) ObserveWithExemplar(v float64, labels prometheus.Labels) {
	i := h.findBucket(v)
	h.observe(v, i)
	if labels != nil {
		h.exemplars[i].Store(mustExemplar(v, labels))
	}
}

func (h *histogram) observe(v float64, bucket int) {
	n := len(h.upperBounds)
	h.shards.Update(func(s *histogramShard) {
		if s.buckets == nil {
			s.buckets = make([]uint64, n)
		}
		if bucket < n {
			s.buckets[bucket]++
		}
		s.count++
		s.sum += v
	})
}

// findBucket returns the index of v's bucket, len(upperBounds) for +Inf
// (NaN included, as client_golang).
func (h *histogram) findBucket(v float64) int {
	n := len(h.upperBounds)
	switch {
	case n == 0 || v <= h.upperBounds[0]:
		return 0
	case v > h.upperBounds[n-1]:
		return n
	case n < 35: // a linear search wins below that (client_golang#1662)
		for i, b := range h.upperBounds {
			if v <= b {
				return i
			}
		}
		return n // NaN
	default:
		return sort.SearchFloat64s(h.upperBounds, v)
	}
}

func (h *histogram) Desc() *prometheus.Desc { return h.desc }

// Write sums every shard under its lock: whole observations only, so the
// count equals the +Inf bucket and the sum is that of the observations
// counted. Exemplars are read first, so none is newer than the counts.
func (h *histogram) Write(out *dto.Metric) error {
	exemplars := make([]*dto.Exemplar, len(h.exemplars))
	for i := range h.exemplars {
		exemplars[i] = h.exemplars[i].Load()
	}
	n := len(h.upperBounds)
	var (
		count uint64
		sum   float64
	)
	perBucket := make([]uint64, n)
	h.shards.Range(func(s *histogramShard) {
		count += s.count
		sum += s.sum
		for i, c := range s.buckets {
			perBucket[i] += c
		}
	})
	his := &dto.Histogram{
		SampleCount:      new(count),
		SampleSum:        new(sum),
		Bucket:           make([]*dto.Bucket, n, n+1),
		CreatedTimestamp: h.created,
	}
	var cumulative uint64
	for i, bound := range h.upperBounds {
		cumulative += perBucket[i]
		his.Bucket[i] = &dto.Bucket{CumulativeCount: new(cumulative), UpperBound: new(bound), Exemplar: exemplars[i]}
	}
	if e := exemplars[n]; e != nil {
		// The +Inf bucket is written only to carry its exemplar.
		his.Bucket = append(his.Bucket, &dto.Bucket{CumulativeCount: new(count), UpperBound: new(math.Inf(+1)), Exemplar: e})
	}
	out.Label = h.labelPairs
	out.Histogram = his
	return nil
}

func (h *histogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }
func (h *histogram) Collect(ch chan<- prometheus.Metric) { ch <- h }

var (
	_ prometheus.Histogram        = (*histogram)(nil)
	_ prometheus.ExemplarObserver = (*histogram)(nil)
)

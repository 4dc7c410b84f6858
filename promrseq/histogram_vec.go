package promrseq

import (
	"github.com/prometheus/client_golang/prometheus"
)

// HistogramVec is prometheus.HistogramVec's counterpart: a
// prometheus.MetricVec of this package's histograms, one per combination of
// label values. It implements prometheus.ObserverVec.
type HistogramVec struct {
	*prometheus.MetricVec
}

// NewHistogramVec returns a HistogramVec partitioned by labelNames, as
// prometheus.NewHistogramVec does. It panics where NewHistogram does, and
// if a label is named "le" (at once, where client_golang waits for the
// first metric).
func NewHistogramVec(opts prometheus.HistogramOpts, labelNames []string) *HistogramVec {
	return V2.NewHistogramVec(prometheus.HistogramVecOpts{
		HistogramOpts:  opts,
		VariableLabels: prometheus.UnconstrainedLabels(labelNames),
	})
}

// NewHistogramVec returns a HistogramVec from prometheus.HistogramVecOpts
// (label values may be constrained), as prometheus.V2.NewHistogramVec does.
func (v2) NewHistogramVec(opts prometheus.HistogramVecOpts) *HistogramVec {
	names := labelNames(opts.VariableLabels)
	bounds := mustBounds(opts.HistogramOpts, names)
	desc := newDesc(opts.Namespace, opts.Subsystem, opts.Name, opts.Help, opts.Unit,
		opts.VariableLabels, opts.ConstLabels)
	return &HistogramVec{prometheus.NewMetricVec(desc, func(lvs ...string) prometheus.Metric {
		checkCardinality(desc, names, lvs)
		return newHistogram(desc, bounds, prometheus.MakeLabelPairs(desc, lvs))
	})}
}

// GetMetricWithLabelValues returns the Histogram (as a prometheus.Observer)
// for the label values, creating it on first use; see
// prometheus.HistogramVec.GetMetricWithLabelValues.
func (v *HistogramVec) GetMetricWithLabelValues(lvs ...string) (prometheus.Observer, error) {
	m, err := v.MetricVec.GetMetricWithLabelValues(lvs...)
	if m != nil {
		return m.(prometheus.Observer), err
	}
	return nil, err
}

// GetMetricWith returns the Histogram for the labels, creating it on first
// use; see prometheus.HistogramVec.GetMetricWith.
func (v *HistogramVec) GetMetricWith(labels prometheus.Labels) (prometheus.Observer, error) {
	m, err := v.MetricVec.GetMetricWith(labels)
	if m != nil {
		return m.(prometheus.Observer), err
	}
	return nil, err
}

// WithLabelValues is GetMetricWithLabelValues that panics on error.
func (v *HistogramVec) WithLabelValues(lvs ...string) prometheus.Observer {
	h, err := v.GetMetricWithLabelValues(lvs...)
	if err != nil {
		panic(err)
	}
	return h
}

// With is GetMetricWith that panics on error.
func (v *HistogramVec) With(labels prometheus.Labels) prometheus.Observer {
	h, err := v.GetMetricWith(labels)
	if err != nil {
		panic(err)
	}
	return h
}

// CurryWith returns the vector with labels preset; see
// prometheus.HistogramVec.CurryWith.
func (v *HistogramVec) CurryWith(labels prometheus.Labels) (prometheus.ObserverVec, error) {
	vec, err := v.MetricVec.CurryWith(labels)
	if vec != nil {
		return &HistogramVec{vec}, err
	}
	return nil, err
}

// MustCurryWith is CurryWith that panics on error.
func (v *HistogramVec) MustCurryWith(labels prometheus.Labels) prometheus.ObserverVec {
	vec, err := v.CurryWith(labels)
	if err != nil {
		panic(err)
	}
	return vec
}

var _ prometheus.ObserverVec = (*HistogramVec)(nil)

package promrseq

import (
	"github.com/prometheus/client_golang/prometheus"
)

// CounterVec is prometheus.CounterVec's counterpart: a prometheus.MetricVec
// of this package's counters, one per combination of label values.
type CounterVec struct {
	*prometheus.MetricVec
}

// NewCounterVec returns a CounterVec partitioned by labelNames, as
// prometheus.NewCounterVec does.
func NewCounterVec(opts prometheus.CounterOpts, labelNames []string) *CounterVec {
	return V2.NewCounterVec(prometheus.CounterVecOpts{
		CounterOpts:    opts,
		VariableLabels: prometheus.UnconstrainedLabels(labelNames),
	})
}

// NewCounterVec returns a CounterVec from prometheus.CounterVecOpts (label
// values may be constrained), as prometheus.V2.NewCounterVec does.
func (v2) NewCounterVec(opts prometheus.CounterVecOpts) *CounterVec {
	desc := newDesc(opts.Namespace, opts.Subsystem, opts.Name, opts.Help, opts.Unit,
		opts.VariableLabels, opts.ConstLabels)
	names := labelNames(opts.VariableLabels)
	return &CounterVec{prometheus.NewMetricVec(desc, func(lvs ...string) prometheus.Metric {
		checkCardinality(desc, names, lvs)
		return newCounter(desc, prometheus.MakeLabelPairs(desc, lvs))
	})}
}

// GetMetricWithLabelValues returns the Counter for the label values (in the
// order of the variable labels), creating it on first use; see
// prometheus.CounterVec.GetMetricWithLabelValues.
func (v *CounterVec) GetMetricWithLabelValues(lvs ...string) (prometheus.Counter, error) {
	m, err := v.MetricVec.GetMetricWithLabelValues(lvs...)
	if m != nil {
		return m.(prometheus.Counter), err
	}
	return nil, err
}

// GetMetricWith returns the Counter for the labels, creating it on first
// use; see prometheus.CounterVec.GetMetricWith.
func (v *CounterVec) GetMetricWith(labels prometheus.Labels) (prometheus.Counter, error) {
	m, err := v.MetricVec.GetMetricWith(labels)
	if m != nil {
		return m.(prometheus.Counter), err
	}
	return nil, err
}

// WithLabelValues is GetMetricWithLabelValues that panics on error.
func (v *CounterVec) WithLabelValues(lvs ...string) prometheus.Counter {
	c, err := v.GetMetricWithLabelValues(lvs...)
	if err != nil {
		panic(err)
	}
	return c
}

// With is GetMetricWith that panics on error.
func (v *CounterVec) With(labels prometheus.Labels) prometheus.Counter {
	c, err := v.GetMetricWith(labels)
	if err != nil {
		panic(err)
	}
	return c
}

// CurryWith returns the vector with labels preset; see
// prometheus.CounterVec.CurryWith.
func (v *CounterVec) CurryWith(labels prometheus.Labels) (*CounterVec, error) {
	vec, err := v.MetricVec.CurryWith(labels)
	if vec != nil {
		return &CounterVec{vec}, err
	}
	return nil, err
}

// MustCurryWith is CurryWith that panics on error.
func (v *CounterVec) MustCurryWith(labels prometheus.Labels) *CounterVec {
	vec, err := v.CurryWith(labels)
	if err != nil {
		panic(err)
	}
	return vec
}

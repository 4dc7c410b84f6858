package promrseq

import (
	"errors"
	"sync/atomic"

	"github.com/gorseq/rseq/percpu"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewCounter returns a prometheus.Counter on per-CPU storage, made from opts
// as prometheus.NewCounter makes one. It also implements
// prometheus.ExemplarAdder.
//
// Like client_golang's, the counter keeps whole-number adds (Inc, and Add of
// a value a uint64 holds exactly) apart from the rest and reports their sum:
// the whole numbers wrap at 2^64, and the float part is a sum of float64s
// whose result depends on the order of the additions (percpu.Float64Counter
// adds per CPU, then across CPUs).
func NewCounter(opts prometheus.CounterOpts) prometheus.Counter {
	desc := newDesc(opts.Namespace, opts.Subsystem, opts.Name, opts.Help, opts.Unit,
		prometheus.UnconstrainedLabels(nil), opts.ConstLabels)
	return newCounter(desc, prometheus.MakeLabelPairs(desc, nil))
}

// counter is NewCounter's and CounterVec's metric.
type counter struct {
	whole      percpu.Counter        // Inc and whole-number Adds, as uint64 bits
	fraction   percpu.Float64Counter // every other Add
	desc       *prometheus.Desc
	labelPairs []*dto.LabelPair
	created    *timestamppb.Timestamp
	exemplar   atomic.Pointer[dto.Exemplar]
}

func newCounter(desc *prometheus.Desc, labelPairs []*dto.LabelPair) *counter {
	return &counter{desc: desc, labelPairs: labelPairs, created: timestamppb.New(now())}
}

var errCounterDecrease = errors.New("counter cannot decrease in value")

// Inc adds 1 to the calling CPU's words.
func (c *counter) Inc() { c.whole.Add(1) }

// Add adds v, which must not be negative (Add panics then, as
// client_golang's does).
func (c *counter) Add(v float64) {
	if v < 0 {
		panic(errCounterDecrease)
	}
	if whole := uint64(v); float64(whole) == v {
		c.whole.Add(int64(whole))
		return
	}
	c.fraction.Add(v)
}

// AddWithExemplar adds v and, unless labels is nil, replaces the counter's
// exemplar with one of v, the current time and labels. It panics if v is
// negative or the labels are invalid or longer than
// prometheus.ExemplarMaxRunes.
func (c *counter) AddWithExemplar(v float64, labels prometheus.Labels) {
	c.Add(v)
	if labels != nil {
		c.exemplar.Store(mustExemplar(v, labels))
	}
}

// value is the counter's value: the whole-number words read as a uint64
// plus the float words.
func (c *counter) value() float64 {
	return float64(uint64(c.whole.Load())) + c.fraction.Load()
}

func (c *counter) Desc() *prometheus.Desc { return c.desc }

// Write reads the exemplar before the value, as client_golang does, so that
// a scrape never shows an exemplar of an add its value does not include.
func (c *counter) Write(out *dto.Metric) error {
	e := c.exemplar.Load()
	v := c.value()
	out.Label = c.labelPairs
	out.Counter = &dto.Counter{Value: new(v), Exemplar: e, CreatedTimestamp: c.created}
	return nil
}

func (c *counter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *counter) Collect(ch chan<- prometheus.Metric) { ch <- c }

var (
	_ prometheus.Counter       = (*counter)(nil)
	_ prometheus.ExemplarAdder = (*counter)(nil)
)

package promrseq

import (
	"math"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/puzpuzpuz/xsync/v4"
)

// xsyncCounter is the benchmarks' third counter: client_golang's counter
// with its whole-number part on a striped counter (xsync.Counter), the
// design of client_golang PR #2052 (which used per-P sharded counters);
// fractions keep client_golang's compare-and-swap loop.
type xsyncCounter struct {
	desc     *prometheus.Desc
	whole    *xsync.Counter
	fraction atomic.Uint64 // float64 bits
}

func newXsyncCounter(opts prometheus.CounterOpts) prometheus.Counter {
	return &xsyncCounter{
		desc:  prometheus.NewDesc(prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name), opts.Help, nil, opts.ConstLabels),
		whole: xsync.NewCounter(),
	}
}

func (c *xsyncCounter) Inc() { c.whole.Inc() }

func (c *xsyncCounter) Add(v float64) {
	if v < 0 {
		panic(errCounterDecrease)
	}
	if w := uint64(v); float64(w) == v {
		c.whole.Add(int64(w))
		return
	}
	for {
		old := c.fraction.Load()
		if c.fraction.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (c *xsyncCounter) Desc() *prometheus.Desc { return c.desc }

func (c *xsyncCounter) Write(out *dto.Metric) error {
	v := float64(uint64(c.whole.Value())) + math.Float64frombits(c.fraction.Load())
	out.Counter = &dto.Counter{Value: new(v)}
	return nil
}

func (c *xsyncCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *xsyncCounter) Collect(ch chan<- prometheus.Metric) { ch <- c }

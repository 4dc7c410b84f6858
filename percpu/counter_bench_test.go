package percpu

import (
	"math"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/internal/benchfloor"
	"github.com/gorseq/rseq/internal/cbench"
	"github.com/puzpuzpuz/xsync/v4"
)

// Counter benchmarks, side by side in one run so benchstat can compare them:
//
//	go test -run '^$' -bench 'Counter' -cpu 1,2 ./percpu
//
// impl=percpu is Counter.Add (rseq critical section where available);
// impl=percpu-fallback is Counter's fallback (atomic add on the P's slot);
// impl=atomic is one shared atomic.Int64; impl=padded-goroutine gives each
// goroutine its own cache line (the best case for atomics: no sharing at
// all, but not a usable counter API); impl=procpin-sharded pins the P and
// adds atomically to its padded slot (the strongest pure-Go rival);
// impl=xsync is github.com/puzpuzpuz/xsync/v4 Counter.
//
// The two floors: impl=asm-call-floor calls an empty assembly function with
// Add's hot op frame (what any Go call of an asm function costs, the
// critical section excluded); impl=c-inlined is C's whole per-CPU add, an
// inlined rseq critical section on glibc's area in a C loop
// (internal/cbench; cgo builds on linux/amd64 only), with the same index
// field, bound check and slot layout as Counter.Add. Add's goal is at most
// 1.1 times their sum.
func BenchmarkCounterAdd(b *testing.B) {
	b.Run("impl=percpu", func(b *testing.B) {
		var c Counter
		c.Inc()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
	b.Run("impl=asm-call-floor", func(b *testing.B) {
		var c Counter
		c.Inc()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				benchfloor.Empty(unsafe.Pointer(&c.h.cell), 1)
			}
		})
	})
	b.Run("impl=c-inlined", func(b *testing.B) {
		if !cbench.Available() || !counterRseq {
			b.Skip("needs cgo on linux/amd64, glibc's rseq registration and Counter on rseq")
		}
		slots := make([]uint64, (proc.slots+1)*arenaColumns)
		base := alignUp(unsafe.Pointer(&slots[0]), arenaRegion) // the arena's layout
		b.RunParallel(func(pb *testing.PB) {
			// pb.Next's cost stays in the loop as in the other rows;
			// the adds run in C, cbenchBatch per cgo call.
			n := 0
			for pb.Next() {
				if n++; n == cbenchBatch {
					if cbench.Add(base, uintptr(proc.slots), zopIndexOffset, n) < 0 {
						panic("c-inlined: index out of range")
					}
					n = 0
				}
			}
			cbench.Add(base, uintptr(proc.slots), zopIndexOffset, n)
		})
	})
	b.Run("impl=percpu-fallback", func(b *testing.B) {
		var c Counter
		cell := c.h.load()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				atomic.AddUint64(word(cell, shardHint()%proc.slots), 1) // Counter's fallback add
			}
		})
	})
	b.Run("impl=atomic", func(b *testing.B) {
		var c atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
	b.Run("impl=padded-goroutine", func(b *testing.B) {
		slots := make([]paddedInt64, 1024)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			s := &slots[next.Add(1)%int64(len(slots))]
			for pb.Next() {
				s.v.Add(1)
			}
		})
	})
	b.Run("impl=procpin-sharded", func(b *testing.B) {
		slots := make([]paddedInt64, 1024)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := runtime_procPin()
				slots[id%len(slots)].v.Add(1)
				runtime_procUnpin()
			}
		})
	})
	b.Run("impl=xsync", func(b *testing.B) {
		c := xsync.NewCounter()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Inc()
			}
		})
	})
}

// paddedInt64 is an int64 alone on its cache line.
type paddedInt64 struct {
	v atomic.Int64
	_ [56]byte
}

// cbenchBatch is how many adds impl=c-inlined runs per cgo call (the call
// costs tens of ns, under 0.1 ns per add at this batch).
const cbenchBatch = 1000

// BenchmarkCounterAddSerial is one goroutine in a plain loop: the cost of
// one Add without b.RunParallel's bookkeeping.
func BenchmarkCounterAddSerial(b *testing.B) {
	b.Run("impl=percpu", func(b *testing.B) {
		var c Counter
		c.Inc()
		for i := 0; i < b.N; i++ {
			c.Add(1)
		}
	})
	b.Run("impl=atomic", func(b *testing.B) {
		var c atomic.Int64
		for i := 0; i < b.N; i++ {
			c.Add(1)
		}
	})
}

func BenchmarkCounterLoad(b *testing.B) {
	var c Counter
	c.Inc()
	for i := 0; i < b.N; i++ {
		_ = c.Load()
	}
}

// procPinSlots is the procPin-sharded rival's storage: one padded word per
// P, atomics only.
type procPinSlots [1024]paddedInt64

func (s *procPinSlots) add(d int64) {
	id := runtime_procPin()
	s[id%len(s)].v.Add(d)
	runtime_procUnpin()
}

func (s *procPinSlots) load() (n int64) {
	for i := range s {
		n += s[i].v.Load()
	}
	return n
}

// counterImpls are the int64 counters of the proposal shapes (golang/go#80645:
// CounterParallel, CounterMixed), side by side.
var counterImpls = []struct {
	name string
	make func() (add func(int64), load func() int64)
}{
	{"percpu", func() (func(int64), func() int64) { c := new(Counter); return c.Add, c.Load }},
	{"atomic", func() (func(int64), func() int64) { c := new(atomic.Int64); return func(d int64) { c.Add(d) }, c.Load }},
	{"procpin-sharded", func() (func(int64), func() int64) { s := new(procPinSlots); return s.add, s.load }},
	{"xsync", func() (func(int64), func() int64) {
		c := xsync.NewCounter()
		return c.Add, c.Value
	}},
}

// BenchmarkCounterParallel is the proposal's CounterParallel: Add only, from
// every P (impl=percpu through a func value here; BenchmarkCounterAdd has
// the inlined call).
func BenchmarkCounterParallel(b *testing.B) {
	for _, impl := range counterImpls {
		b.Run("type=int64/impl="+impl.name, func(b *testing.B) {
			add, _ := impl.make()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					add(1)
				}
			})
		})
	}
	for _, impl := range float64Impls {
		b.Run("type=float64/impl="+impl.name, func(b *testing.B) {
			add, _ := impl.make()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					add(1)
				}
			})
		})
	}
}

// BenchmarkCounterMixed is the proposal's CounterMixed: 99% Add, 1% Load.
func BenchmarkCounterMixed(b *testing.B) {
	for _, impl := range counterImpls {
		b.Run("type=int64/impl="+impl.name, func(b *testing.B) {
			add, load := impl.make()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if i%100 == 99 {
						_ = load()
					} else {
						add(1)
					}
				}
			})
		})
	}
	for _, impl := range float64Impls {
		b.Run("type=float64/impl="+impl.name, func(b *testing.B) {
			add, load := impl.make()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if i%100 == 99 {
						_ = load()
					} else {
						add(1)
					}
				}
			})
		})
	}
}

// casFloat64 is the usual float counter: one word, a compare-and-swap loop
// (client_golang's Counter.Add does this).
type casFloat64 struct{ bits atomic.Uint64 }

func (c *casFloat64) add(v float64) {
	for {
		old := c.bits.Load()
		if c.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (c *casFloat64) load() float64 { return math.Float64frombits(c.bits.Load()) }

// float64Impls are the float64 counters side by side.
var float64Impls = []struct {
	name string
	make func() (add func(float64), load func() float64)
}{
	{"percpu", func() (func(float64), func() float64) { c := new(Float64Counter); return c.Add, c.Load }},
	{"cas-loop", func() (func(float64), func() float64) { c := new(casFloat64); return c.add, c.load }},
}

// BenchmarkFloat64CounterAdd: Float64Counter.Add (inlined) against a
// float64 compare-and-swap loop on one word. Goal: at least 3 times the CAS
// loop at -cpu 2, no slower at -cpu 1.
func BenchmarkFloat64CounterAdd(b *testing.B) {
	b.Run("impl=percpu", func(b *testing.B) {
		var c Float64Counter
		c.Inc()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
	b.Run("impl=cas-loop", func(b *testing.B) {
		var c casFloat64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.add(1)
			}
		})
	})
}

// BenchmarkCounterReset: what one exact Reset costs (a fence, a fresh cell,
// the sum of the old one), alone and per counter when ResetAll resets 100
// at once with one fence.
func BenchmarkCounterReset(b *testing.B) {
	b.Run("impl=Reset", func(b *testing.B) {
		var c Counter
		for b.Loop() {
			c.Inc()
			c.Reset()
		}
	})
	b.Run("impl=ResetAll/batch=100", func(b *testing.B) {
		cs := make([]*Counter, 100)
		for i := range cs {
			cs[i] = new(Counter)
		}
		totals := make([]int64, len(cs))
		for b.Loop() {
			for _, c := range cs {
				c.Inc()
			}
			ResetAll(cs, totals)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/counter")
	})
}

package percpu

import (
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
				benchfloor.Empty(unsafe.Pointer(&c.base), 1)
			}
		})
	})
	b.Run("impl=c-inlined", func(b *testing.B) {
		if !cbench.Available() || !counterRseq {
			b.Skip("needs cgo on linux/amd64, glibc's rseq registration and Counter on rseq")
		}
		slots := make([]paddedInt64, proc.slots+1)
		base := alignUp(unsafe.Pointer(&slots[0]), counterSlotSize)
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
		c.slots()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.addAtomic(1)
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

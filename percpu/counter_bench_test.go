package percpu

import (
	"sync/atomic"
	"testing"

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

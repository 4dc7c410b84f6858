package percpu

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// Sharded benchmarks, side by side in one run so benchstat can compare them:
//
//	go test -run '^$' -bench 'Sharded' -cpu 1,2 ./percpu
//
// BenchmarkShardedUpdate updates a small struct (count, sum, max):
// impl=percpu is Sharded.Update (the CPU's shard, locked by a critical
// section); impl=percpu-locked is Sharded's locked shards alone (its
// fallback: the P's shard, TryLock); impl=mutex is one value behind one
// sync.Mutex; impl=procpin-mutex is golang/go#18802's prototype shape
// (github.com/martin-sucha/percpu): the P's padded shard, chosen with
// runtime.procPin, locked with its own sync.Mutex, written inline (no
// closure, no deferred unlock: a panic would leave the shard locked);
// impl=procpin-mutex-func is the same behind Update's API (a closure, a
// deferred unlock).
//
// BenchmarkShardedAdd is the trivial case, a per-CPU int64 += 1:
// impl=percpu is Sharded[int64].Update, impl=counter is Counter.Add (one
// critical section, no lock).

type benchStats struct {
	count, sum, max int64
}

func (s *benchStats) observe(v int64) {
	s.count++
	s.sum += v
	if v > s.max {
		s.max = v
	}
}

type procPinShard struct {
	mu  sync.Mutex
	val benchStats
	_   [cacheLineSize]byte
}

func BenchmarkShardedUpdate(b *testing.B) {
	b.Run("impl=percpu", func(b *testing.B) {
		var s Sharded[benchStats]
		s.Update(func(*benchStats) {})
		b.RunParallel(func(pb *testing.PB) {
			v := int64(0)
			for pb.Next() {
				v++
				s.Update(func(x *benchStats) { x.observe(v) })
			}
		})
	})
	b.Run("impl=percpu-locked", func(b *testing.B) {
		var s Sharded[benchStats]
		t := s.table()
		b.RunParallel(func(pb *testing.PB) {
			v := int64(0)
			for pb.Next() {
				v++
				t.updateLocked(func(x *benchStats) { x.observe(v) })
			}
		})
	})
	b.Run("impl=mutex", func(b *testing.B) {
		var mu sync.Mutex
		var val benchStats
		b.RunParallel(func(pb *testing.PB) {
			v := int64(0)
			for pb.Next() {
				v++
				mu.Lock()
				val.observe(v)
				mu.Unlock()
			}
		})
	})
	b.Run("impl=procpin-mutex", func(b *testing.B) {
		shards := make([]procPinShard, max(proc.slots, 1))
		b.RunParallel(func(pb *testing.PB) {
			v := int64(0)
			for pb.Next() {
				v++
				id := runtime_procPin()
				runtime_procUnpin()
				sh := &shards[id%len(shards)]
				sh.mu.Lock()
				sh.val.observe(v)
				sh.mu.Unlock()
			}
		})
	})
	b.Run("impl=procpin-mutex-func", func(b *testing.B) {
		shards := make([]procPinShard, max(proc.slots, 1))
		b.RunParallel(func(pb *testing.PB) {
			v := int64(0)
			for pb.Next() {
				v++
				procPinUpdate(shards, func(x *benchStats) { x.observe(v) })
			}
		})
	})
}

// procPinUpdate is impl=procpin-mutex behind Update's API: a function that
// takes a closure and unlocks in a deferred call, so that a panicking
// closure does not leave the shard locked.
//
//go:noinline
func procPinUpdate(shards []procPinShard, fn func(*benchStats)) {
	id := runtime_procPin()
	runtime_procUnpin()
	sh := &shards[id%len(shards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	fn(&sh.val)
}

func BenchmarkShardedAdd(b *testing.B) {
	b.Run("impl=percpu", func(b *testing.B) {
		var s Sharded[int64]
		s.Update(func(*int64) {})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Update(func(x *int64) { *x++ })
			}
		})
	})
	b.Run("impl=counter", func(b *testing.B) {
		var c Counter
		c.Inc()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
}

// BenchmarkShardedRelease measures what Update's panic safety costs:
// defer=yes is Update (the release, an atomic store, deferred), defer=no
// the same fast path with the release after fn (not panic-safe: for
// comparison only). Both run behind one indirect call.
func BenchmarkShardedRelease(b *testing.B) {
	for _, c := range []struct {
		name   string
		update func(s *Sharded[int64], fn func(*int64))
	}{
		{"yes", (*Sharded[int64]).Update},
		{"no", updateNoDefer},
	} {
		b.Run("defer="+c.name, func(b *testing.B) {
			var s Sharded[int64]
			s.Update(func(*int64) {})
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.update(&s, func(x *int64) { *x++ })
				}
			})
		})
	}
}

// updateNoDefer is Update without the defer.
//
//go:noinline
func updateNoDefer(s *Sharded[int64], fn func(*int64)) {
	p := shardLock(unsafe.Pointer(&s.cpu))
	if p == nil {
		p = s.lockFirst()
	}
	shardAcquired(p)
	fn(&(*cpuShard[int64])(p).val)
	atomic.StoreUint64((*uint64)(p), shardFree)
}

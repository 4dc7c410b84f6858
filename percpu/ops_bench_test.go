//go:build linux

package percpu

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// Benchmarks of the generated ops, called directly (no data structure
// around them), b.RunParallel. Compare with atomic.AddInt64 on one word.

func benchRegister(b *testing.B) {
	if !opFastPath() {
		b.Skip("fast path off: ", Status().Reason)
	}
}

func BenchmarkOp(b *testing.B) {
	limit := opLimit()
	b.Run("LoadAddLoadLoadAddStore", func(b *testing.B) {
		benchRegister(b)
		arr, _ := words(limit)
		ptr := unsafe.Pointer(&arr)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, st := zopLoadAddLoadLoadAddStore(ptr, opStride, limit, 1); st != zopStatusOK {
					if st != zopStatusUnregistered || !slowPath() {
						b.Fatal(st)
					}
				}
			}
		})
	})
	b.Run("LoadCbneStore", func(b *testing.B) {
		benchRegister(b)
		base, _ := words(limit)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, st := zopLoadCbneStore(base, opStride, limit, 0, 0); st < zopStatusOK {
					if st != zopStatusUnregistered || !slowPath() {
						b.Fatal(st)
					}
				}
			}
		})
	})
	b.Run("PoolPushPop", func(b *testing.B) {
		benchRegister(b)
		c := newTestCaches(limit)
		x := unsafe.Pointer(new(int))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, st := c.push(-1, x, writeBarrierFlag)
				if st == zopStatusUnregistered && slowPath() {
					continue
				}
				c.pop(-1)
			}
		})
	})
	b.Run("FallbackLoadAddLoadLoadAddStore", func(b *testing.B) {
		arr, _ := words(limit)
		ptr := unsafe.Pointer(&arr)
		var n atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			shard := uintptr(n.Add(1)) % limit
			for pb.Next() {
				zopFallbackLoadAddLoadLoadAddStore(shard, ptr, opStride, limit, 1)
			}
		})
	})
	b.Run("AtomicAddOneWord", func(b *testing.B) {
		var w atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Add(1)
			}
		})
	})
}

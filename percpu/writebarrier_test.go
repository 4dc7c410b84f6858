package percpu

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestWriteBarrierFlag proves that writeBarrierFlag is the runtime's flag:
// it reads 0 with no collection running and non-zero while one marks.
func TestWriteBarrierFlag(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	if writeBarrierOn() {
		t.Fatal("write barrier flag on with no collection running")
	}
	// A heap of many small pointerful objects keeps each mark phase long
	// enough to be seen.
	keep := make([]*[4]*int, 1<<18)
	for i := range keep {
		keep[i] = new([4]*int)
	}
	var seen atomic.Bool
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if writeBarrierOn() {
				seen.Store(true)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !seen.Load() && time.Now().Before(deadline) {
		runtime.GC()
	}
	stop.Store(true)
	wg.Wait()
	runtime.KeepAlive(keep)
	if !seen.Load() {
		t.Fatal("write barrier flag never on during runtime.GC(): writeBarrierFlag does not point at runtime.writeBarrier")
	}
	if writeBarrierOn() {
		t.Fatal("write barrier flag still on after runtime.GC() returned")
	}
}

// TestOpPoolPutGuard checks PoolPut against its write barrier flag on every
// variant: with the flag set it fails with 3 and writes nothing (not even
// the speculative stores); with it clear it stores the pointer.
func TestOpPoolPutGuard(t *testing.T) {
	for _, v := range opVariants {
		t.Run(v, func(t *testing.T) {
			skipMMCID(t, v)
			limit := opLimit()
			slab := make([]uint64, limit*poolTestStride/8)
			base := unsafe.Pointer(&slab[0])
			entries := make([]*int, limit)
			ent := unsafe.Pointer(&entries[0])
			for i := range limit { // one free entry per slot
				*(*uint32)(unsafe.Add(base, i*poolTestStride+poolTestFreeOff)) = uint32(i)
				slab[i*poolTestStride/8] = 1 << 32
			}
			x := new(int)
			put := func(flag uint32) int {
				wb := unsafe.Pointer(&flag)
				return opDo(limit, v == "Fallback", func() (st int) {
					if v == "MMCID" {
						_, st = opPoolPutMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, unsafe.Pointer(x), wb)
					} else {
						_, st = opPoolPutCPU(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, unsafe.Pointer(x), wb)
					}
					return st
				}, func(shard uintptr) (st int) {
					_, st = fallbackPoolPut(shard, base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, unsafe.Pointer(x), wb)
					return st
				})
			}
			before := append([]uint64(nil), slab...)
			if st := put(1); st != 3 {
				t.Fatalf("PoolPut with the write barrier on: status %d, want 3", st)
			}
			for i := range slab {
				if slab[i] != before[i] {
					t.Fatalf("PoolPut with the write barrier on changed slab word %d", i)
				}
			}
			for e, p := range entries {
				if p != nil {
					t.Fatalf("PoolPut with the write barrier on stored into entry %d", e)
				}
			}
			if st := put(0); st != statusOK {
				t.Fatalf("PoolPut with the write barrier off: status %d", st)
			}
			n := 0
			for i := range limit {
				w := slab[i*poolTestStride/8]
				if w&(1<<32-1) == 1 {
					n++
					if w>>32 != 0 {
						t.Errorf("slot %d: free count %d after the put, want 0", i, w>>32)
					}
					e := *(*uint32)(unsafe.Add(base, i*poolTestStride+poolTestFullOff))
					if e != uint32(i) || entries[e] != x {
						t.Errorf("slot %d: full stack holds entry %d (object %p), want entry %d with %p", i, e, entries[e], i, x)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d slots grew a full entry, want 1", n)
			}
		})
	}
}

// TestOpPoolPutUnderGC calls PoolPut with the runtime's real flag while
// collections run back to back, and requires both outcomes: stored with
// the barrier off, refused (status 3) while the collector marks. Either
// way the object must stay reachable: TestPoolGCStress and
// TestPoolGCCheckmark check that through the Pool.
func TestOpPoolPutUnderGC(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !slowPath() {
		t.Skip("this thread could not register")
	}
	limit := opLimit()
	slab := make([]uint64, limit*poolTestStride/8)
	base := unsafe.Pointer(&slab[0])
	entries := make([]*int, limit)
	ent := unsafe.Pointer(&entries[0])
	for i := range limit {
		*(*uint32)(unsafe.Add(base, i*poolTestStride+poolTestFreeOff)) = uint32(i)
		slab[i*poolTestStride/8] = 1 << 32
	}
	keep := make([]*[4]*int, 1<<17) // makes each mark phase last
	for i := range keep {
		keep[i] = new([4]*int)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			runtime.GC()
		}
	})
	var counts [4]int
	deadline := time.Now().Add(20 * time.Second)
	for (counts[0] == 0 || counts[3] == 0) && time.Now().Before(deadline) {
		for range 1000 {
			x := new(int)
			_, st := opPoolPutCPU(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, unsafe.Pointer(x), writeBarrierFlag)
			if st < 0 || st > 3 || st == 1 || st == 2 {
				t.Fatalf("status %d", st)
			}
			counts[st]++
			if st == statusOK { // back to one free entry per slot (this thread is the slab's only user)
				for i := range limit {
					*(*uint32)(unsafe.Add(base, i*poolTestStride+poolTestFreeOff)) = uint32(i)
					slab[i*poolTestStride/8] = 1 << 32
				}
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	runtime.KeepAlive(keep)
	t.Logf("stored %d, refused with the barrier on %d", counts[0], counts[3])
	if counts[0] == 0 || counts[3] == 0 {
		t.Fatalf("want both outcomes: stored %d, refused %d", counts[0], counts[3])
	}
}

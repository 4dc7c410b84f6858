//go:build linux

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

// writeBarrierOn reports whether the write barrier is on now.
func writeBarrierOn() bool {
	return *(*uint32)(writeBarrierFlag) != 0
}

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

// TestOpPoolPushGuard checks PoolPush against its write barrier flag on
// every variant: with the flag set it fails with 2 and writes nothing (not
// even the speculative pointer store); with it clear it stores the pointer.
func TestOpPoolPushGuard(t *testing.T) {
	for _, v := range opVariants {
		t.Run(v, func(t *testing.T) {
			limit := opLimit()
			c := newTestCaches(limit)
			x := new(int)
			push := func(flag uint32) int {
				return opDo(limit, v == "Fallback", func() int {
					_, st := c.push(-1, unsafe.Pointer(x), unsafe.Pointer(&flag))
					return st
				}, func(shard uintptr) int {
					_, st := c.push(int(shard), unsafe.Pointer(x), unsafe.Pointer(&flag))
					return st
				})
			}
			if st := push(1); st != 2 {
				t.Fatalf("PoolPush with the write barrier on: status %d, want 2", st)
			}
			for i := range limit {
				if *c.count(i) != 0 {
					t.Fatalf("PoolPush with the write barrier on changed slot %d's count", i)
				}
			}
			for e, p := range c.entries {
				if p != nil {
					t.Fatalf("PoolPush with the write barrier on stored into entry %d", e)
				}
			}
			if st := push(0); st != zopStatusOK {
				t.Fatalf("PoolPush with the write barrier off: status %d", st)
			}
			n := 0
			for i := range limit {
				switch *c.count(i) {
				case 0:
				case 1:
					n++
					if c.region(i)[0] != x {
						t.Errorf("slot %d: entry 0 holds %p, want %p", i, c.region(i)[0], x)
					}
				default:
					t.Errorf("slot %d: count %d", i, *c.count(i))
				}
			}
			if n != 1 {
				t.Fatalf("%d slots hold the object, want 1", n)
			}
		})
	}
}

// TestOpPoolPushUnderGC calls PoolPush with the runtime's real flag while
// collections run back to back, and requires both outcomes: stored with
// the barrier off, refused (status 2) while the collector marks. Either
// way the object must stay reachable: TestPoolGCStress and
// TestPoolGCCheckmark check that through the Pool.
func TestOpPoolPushUnderGC(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !slowPath() {
		t.Skip("this thread could not register")
	}
	c := newTestCaches(opLimit())
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
	var counts [3]int
	deadline := time.Now().Add(20 * time.Second)
	for (counts[0] == 0 || counts[2] == 0) && time.Now().Before(deadline) {
		for range 1000 {
			x := new(int)
			_, st := c.push(-1, unsafe.Pointer(x), writeBarrierFlag)
			if st != zopStatusOK && st != 2 {
				t.Fatalf("status %d", st)
			}
			counts[st]++
			if st == zopStatusOK { // empty again (this thread is the caches' only user)
				clear(c.topsMem)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	runtime.KeepAlive(keep)
	t.Logf("stored %d, refused with the barrier on %d", counts[0], counts[2])
	if counts[0] == 0 || counts[2] == 0 {
		t.Fatalf("want both outcomes: stored %d, refused %d", counts[0], counts[2])
	}
}

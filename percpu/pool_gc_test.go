//go:build linux

package percpu

// The Pool and the garbage collector: the hot ops through mark phases, and
// Go's own TestPoolGC shape.

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// TestPoolMarkingHotPath: while the collector marks (the flag faked on),
// Get's hot op still pops this CPU's cache and leaves the entry as it is (a
// stale reference: no store), and Put's hot op pushes back an object whose
// entry still holds it (the store rewrites the value already there); a Put
// of another object goes to this P's cache, since storing a new pointer
// would need a write barrier. Once the flag is off, Get clears what it pops.
func TestPoolMarkingHotPath(t *testing.T) {
	if !fastPathPool() {
		t.Skip("fast path off")
	}
	p := &Pool[testObj]{PerCPU: 4, Shared: -1}
	a, b, c := &testObj{id: 1}, &testObj{id: 2}, &testObj{id: 3}
	onOneCPU(t, func() {
		s := p.storage()
		pid := runtime_procPin()
		runtime_procUnpin()
		p.Put(a)
		p.Put(b)
		slot := -1
		for i := 0; i < int(s.fast.limit); i++ {
			if *s.fast.count(i) == 2 {
				slot = i
			}
		}
		if slot < 0 {
			t.Fatal("the two Puts did not land on one CPU cache")
		}
		count, region := s.fast.count(slot), s.fast.region(slot)
		check := func(name string, n uint64, perP int, entries ...*testObj) {
			t.Helper()
			if *count != n || s.shards[pid].n != perP {
				t.Fatalf("%s: CPU cache holds %d, this P's %d; want %d, %d", name, *count, s.shards[pid].n, n, perP)
			}
			for i, want := range entries {
				if region[i] != want {
					t.Fatalf("%s: entry %d = %p, want %p", name, i, region[i], want)
				}
			}
		}
		var on uint32 = 1
		real := writeBarrierFlag
		writeBarrierFlag = unsafe.Pointer(&on)
		defer func() { writeBarrierFlag = real }()
		if x, _ := p.Get(); x != b {
			t.Fatalf("Get while marking = %p, want b %p", x, b)
		}
		check("Get while marking", 1, 0, a, b) // b stays as a stale reference
		p.Put(b)
		check("Put of the object its entry holds", 2, 0, a, b)
		if x, _ := p.Get(); x != b {
			t.Fatalf("second Get while marking = %p, want b %p", x, b)
		}
		p.Put(c)
		check("Put of another object", 1, 1, a, b)
		writeBarrierFlag = real
		if x, _ := p.Get(); x != a {
			t.Fatalf("Get after marking = %p, want a %p", x, a)
		}
		check("Get after marking", 0, 1, nil, b)
		if x, _ := p.Get(); x != c {
			t.Fatalf("Get from this P's cache = %p, want c %p", x, c)
		}
	})
}

// TestPoolMarkingUnderGC is TestPoolMarkingHotPath with the real flag:
// under back-to-back collections (a heap that keeps each mark phase long), a
// goroutine Gets and Puts back one object. Every pair that starts with the
// object on this CPU's cache and runs inside one mark phase (the flag on
// before the Get and after the Put, no runtime.GC returning in between) must
// leave it there, not on this P's cache. (Before the hot ops worked during
// mark phases, every such pair moved it to the P's cache.) A collection
// started by an allocation somewhere could still end one phase and begin
// another between Get and Put, so at most 1% of the pairs may miss.
func TestPoolMarkingUnderGC(t *testing.T) {
	if !fastPathPool() {
		t.Skip("fast path off")
	}
	keep := make([]*[4]*int, 1<<18)
	for i := range keep {
		keep[i] = new([4]*int)
	}
	p := &Pool[testObj]{PerCPU: 4, Shared: -1}
	marking, missed, lost := 0, 0, 0
	abortsBefore := hotAborts("poolGet")
	onOneCPU(t, func() {
		s := p.storage()
		pid := runtime_procPin()
		runtime_procUnpin()
		p.Put(&testObj{id: 1})
		var stop atomic.Bool
		var cycles atomic.Int64 // runtime.GC calls returned
		var wg sync.WaitGroup
		wg.Go(func() {
			for !stop.Load() {
				runtime.GC()
				cycles.Add(1)
			}
		})
		// Pairs land inside a mark phase only when the scheduler runs this
		// goroutine while the collector marks; under -race on a loaded
		// machine that can take long, so the loop waits for them (up to
		// 60 s) rather than for a fixed time.
		deadline := time.Now().Add(60 * time.Second)
		for marking < 1000 && time.Now().Before(deadline) {
			c0, on, onCPU := cycles.Load(), writeBarrierOn(), s.shards[pid].n == 0
			x, ok := p.Get()
			if !ok {
				// An abort right after a Get's clear (the collector not
				// marking) drops the object: the documented hole.
				lost++
				p.Put(&testObj{id: 1})
				continue
			}
			p.Put(x)
			if on && onCPU && writeBarrierOn() && cycles.Load() == c0 {
				marking++
				if s.shards[pid].n != 0 {
					missed++
				}
			}
		}
		stop.Store(true)
		wg.Wait()
	})
	runtime.KeepAlive(keep)
	aborts := hotAborts("poolGet") - abortsBefore
	t.Logf("%d pairs inside mark phases, %d moved the object to the per-P cache; %d objects lost, %d poolGet aborts", marking, missed, lost, aborts)
	if uint64(lost) > aborts {
		t.Errorf("%d objects lost but only %d poolGet aborts: a loss without a hole", lost, aborts)
	}
	if marking < 100 {
		t.Fatalf("only %d Get+Put pairs ran inside a mark phase in 60 s (%d objects lost, %d poolGet aborts)", marking, lost, aborts)
	}
	if missed > marking/100 {
		t.Errorf("%d of %d pairs inside mark phases moved the object to the per-P cache", missed, marking)
	}
}

// TestPoolGCDrain is the shape of Go's own TestPoolGC (sync/pool_test.go),
// stricter: Put N objects that have cleanups and finalizers, drain the pool
// with N Gets, drop them, collect: every object's cleanup and finalizer must
// run, because Get clears the entry it pops (the pool keeps no reference to
// what it hands out). Go's test allows one survivor; this one allows none.
// It runs on one CPU and after a completed collection (a Get during a mark
// phase may leave a stale reference: the documented bound). Where the pool
// is indexed by mm_cid, the kernel may hand the thread another mm_cid while
// it sleeps in runtime.GC (seen in the arm64 6.12 VM): the drain then looks
// at another CPU cache, which is the pool working as designed, not a leak.
// Such an attempt is detected (the thread's index before and after) and run
// again; a short drain on an unchanged index fails.
func TestPoolGCDrain(t *testing.T) {
	for _, n := range []int{10, 100} { // within one CPU's cache; spilling to the per-P and shared levels
		t.Run(fmt.Sprint("N=", n), func(t *testing.T) {
			for attempt := 1; !poolGCDrain(t, n); attempt++ {
				if attempt == 10 {
					t.Fatalf("the thread's per-CPU index changed between the Puts and the drain in all %d attempts", attempt)
				}
				t.Logf("attempt %d: the thread's per-CPU index changed between the Puts and the drain; again", attempt)
			}
		})
	}
}

// poolGCDrain runs one attempt of TestPoolGCDrain. It returns false, having
// checked nothing, when the thread's per-CPU index changed from the Puts to
// the drain and the drain came back short.
func poolGCDrain(t *testing.T, n int) bool {
	var p Pool[string]
	var cleaned, finalized atomic.Int64
	indexMoved := false
	onOneCPU(t, func() {
		// The index is read before and after the Puts too: a change
		// during the Puts leaves some of them on another index's cache.
		first := slotIndex()
		putWithCleanups(&p, n, &cleaned, &finalized)
		before := slotIndex()
		runtime.GC() // no mark phase during the drain
		got := 0
		for i := 0; i < n; i++ {
			if x, ok := p.Get(); ok && x != nil {
				got++
			}
		}
		// Puts beyond Cap were dropped; everything else must come
		// back, or the cleanups below would prove nothing.
		if want := min(n, p.Cap()); got != want {
			after := slotIndex()
			if fastPathPool() && (first != before || after != before) {
				indexMoved = true
				return
			}
			t.Errorf("the drain got %d objects back, want %d (Cap %d; per-CPU index %d before the Puts, after them and after the drain, fast path %v)",
				got, want, p.Cap(), after, fastPathPool())
		}
	})
	if indexMoved {
		return false
	}
	for i := 0; i < 50 && (cleaned.Load() < int64(n) || finalized.Load() < int64(n)); i++ {
		runtime.GC()
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	if c, f := cleaned.Load(), finalized.Load(); c != int64(n) || f != int64(n) {
		t.Fatalf("after the drain, %d of %d cleanups and %d finalizers ran; the pool retains %d objects",
			c, n, f, len(p.storage().retained()))
	}
	return true
}

// slotIndex returns the per-CPU index the calling thread's ops use now:
// its mm_cid or its CPU, as the process indexes (Status().Index).
func slotIndex() int {
	th := rseqop.Pin()
	defer th.Unpin()
	if proc.useMMCID {
		return th.MMCID()
	}
	return th.CPU()
}

//go:noinline
func putWithCleanups(p *Pool[string], n int, cleaned, finalized *atomic.Int64) {
	for i := 0; i < n; i++ {
		v := new(string)
		*v = "pooled"
		runtime.AddCleanup(v, func(c *atomic.Int64) { c.Add(1) }, cleaned)
		runtime.SetFinalizer(v, func(*string) { finalized.Add(1) })
		p.Put(v)
	}
}

//go:build linux

package percpu

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestPoolZeroValue(t *testing.T) {
	var p Pool[int]
	if x, ok := p.Get(); x != nil || ok {
		t.Fatalf("Get on an empty pool without New = %v, %v; want nil, false", x, ok)
	}
	p.Put(nil)
	if x, ok := p.Get(); x != nil || ok {
		t.Fatalf("after Put(nil), Get = %v, %v; want nil, false", x, ok)
	}
	if c := p.Cap(); c < DefaultPerCPU {
		t.Errorf("Cap %d < DefaultPerCPU", c)
	}
	v := 7
	onOneCPU(t, func() {
		p.Put(&v)
		if x, ok := p.Get(); x != &v || !ok {
			t.Errorf("Get after Put(&v) = %p, %v; want %p, true", x, ok, &v)
		}
	})

	q := Pool[int]{New: func() *int { return nil }}
	if x, ok := q.Get(); x != nil || ok {
		t.Errorf("Get with New returning nil = %v, %v; want nil, false", x, ok)
	}
	n := 0
	r := Pool[int]{New: func() *int { n++; return &n }}
	if x, ok := r.Get(); x != &n || !ok || n != 1 {
		t.Errorf("Get with New = %p, %v (New ran %d times)", x, ok, n)
	}
}

// TestPoolHugeBounds: PerCPU and Shared far beyond their bounds are
// clamped when the storage is allocated, as documented, instead of failing
// the first Get with a runtime error.
func TestPoolHugeBounds(t *testing.T) {
	p := &Pool[testObj]{PerCPU: math.MaxInt, Shared: math.MaxInt}
	if _, ok := p.Get(); ok {
		t.Fatal("Get from an empty pool without New returned an object")
	}
	s := p.storage()
	if s.perCPU != MaxPerCPU || s.sharedCap != MaxShared {
		t.Errorf("per CPU %d, shared %d; want %d, %d", s.perCPU, s.sharedCap, MaxPerCPU, MaxShared)
	}
}

func TestPoolLIFOOnOneCPU(t *testing.T) {
	p := Pool[testObj]{PerCPU: 4, Shared: 2}
	// Levels on one CPU: its cache (fast path only), this P's cache, the
	// shared level; each holds its objects LIFO.
	levels := [][2]int{{0, 4}, {4, 6}} // [first, end) object ids per level
	if fastPathPool() {
		levels = [][2]int{{0, 4}, {4, 8}, {8, 10}}
	}
	n := levels[len(levels)-1][1]
	objs := make([]*testObj, n)
	for i := range objs {
		objs[i] = &testObj{id: uint64(i)}
	}
	var want []uint64
	for _, l := range levels {
		for id := l[1] - 1; id >= l[0]; id-- {
			want = append(want, uint64(id))
		}
	}
	onOneCPU(t, func() {
		for _, o := range objs {
			p.Put(o)
		}
		p.Put(&testObj{id: 99}) // every level full: dropped
		for i, w := range want {
			o, ok := p.Get()
			if !ok || o.id != w {
				t.Fatalf("Get #%d = %v, %v; want object %d", i, o, ok, w)
			}
		}
		if o, ok := p.Get(); ok {
			t.Fatalf("Get on the emptied pool = object %d", o.id)
		}
	})
}

func TestPoolCapacityBound(t *testing.T) {
	p := &Pool[testObj]{PerCPU: 4, Shared: 8}
	tr := newTracker(t, 1<<16)
	capacity := p.Cap()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 20*capacity; i++ {
				if o := tr.new(); o != nil {
					tr.checkIn(p, o)
				}
			}
		})
	}
	wg.Wait()
	tr.checkQuiescent(p, 0)
	if n := len(p.storage().pooled()); n == 0 || n > capacity {
		t.Errorf("pool holds %d objects after %d Puts, Cap %d", n, tr.created.Load(), capacity)
	}
	// Memory: everything beyond Cap is garbage.
	waitFreed(tr, tr.created.Load()-int64(capacity))
	live := tr.created.Load() - countFreed(tr)
	t.Logf("created %d, pool holds %d, Cap %d, live after GC %d", tr.created.Load(), len(p.storage().pooled()), capacity, live)
	if live > int64(capacity) {
		t.Errorf("%d objects live after GC, more than Cap %d", live, capacity)
	}
	runtime.KeepAlive(p)
}

func TestPoolSurvivesGCAndTrim(t *testing.T) {
	p := &Pool[testObj]{PerCPU: 8}
	tr := newTracker(t, 1024)
	onOneCPU(t, func() {
		fillPool(tr, p, 8)
		// Get and Put some back so stale references exist too.
		for i := 0; i < 3; i++ {
			o := tr.get(p)
			o.use()
			tr.checkIn(p, o)
		}
	})
	pooled := len(p.storage().pooled())
	if pooled != 8 || tr.dropped.Load() != 0 {
		t.Fatalf("pool holds %d (dropped %d), want 8", pooled, tr.dropped.Load())
	}
	for i := 0; i < 4; i++ {
		runtime.GC()
	}
	time.Sleep(10 * time.Millisecond)
	if n := countFreed(tr); n != 0 {
		t.Fatalf("%d pooled objects were freed by GC; the pool must keep them", n)
	}
	tr.checkQuiescent(p, 0)
	p.Trim()
	waitFreed(tr, tr.created.Load())
	if n := countFreed(tr); n != tr.created.Load() {
		t.Errorf("after Trim, %d of %d objects freed; Trim must drop every reference", n, tr.created.Load())
	}
	// The pool works again after Trim.
	x := &testObj{id: 1}
	p.Put(x)
	if got, ok := p.Get(); !ok || got.id != 1 {
		t.Errorf("Get after Trim and Put = %v, %v", got, ok)
	}
}

func TestPoolAllocs(t *testing.T) {
	p := &Pool[testObj]{New: func() *testObj { return &testObj{data: make([]uint64, 8)} }}
	getPut := func() {
		x, _ := p.Get()
		p.Put(x)
	}
	var sp sync.Pool
	sp.New = func() any { return &testObj{data: make([]uint64, 8)} }
	spGetPut := func() { sp.Put(sp.Get()) }
	onOneCPU(t, func() {
		getPut()
		spGetPut()
		if a := testing.AllocsPerRun(1000, getPut); a != 0 {
			t.Errorf("Get+Put allocates %v times per run in steady state", a)
		}
		// Two collections between uses: sync.Pool's victim cache is gone
		// by then, this pool's objects are not.
		a := testing.AllocsPerRun(20, func() { runtime.GC(); runtime.GC(); getPut() })
		b := testing.AllocsPerRun(20, func() { runtime.GC(); runtime.GC(); spGetPut() })
		t.Logf("allocations per (GC, GC, Get+Put): percpu.Pool %v, sync.Pool %v", a, b)
		if a != 0 {
			t.Errorf("Get+Put across GC allocates %v times per run", a)
		}
	})
}

// TestPoolFastPathUsed proves the per-CPU caches (the rseq ops) serve Put and
// Get where the fast path is on: objects Put on one CPU sit on that CPU's
// cache, not on the other levels, and come back from it.
func TestPoolFastPathUsed(t *testing.T) {
	if !fastPathPool() {
		if proc.fastPath {
			t.Fatal("fast path on, but the pool uses its fallback")
		}
		t.Skipf("fast path off: %s", proc.reason)
	}
	p := &Pool[testObj]{PerCPU: 8, Shared: 8}
	onOneCPU(t, func() {
		objs := make([]*testObj, 5)
		for i := range objs {
			objs[i] = &testObj{id: uint64(i)}
			p.Put(objs[i])
		}
		s := p.storage()
		if len(s.shared) != 0 {
			t.Errorf("%d objects on the shared level, want 0: Put did not use the per-CPU cache", len(s.shared))
		}
		n := 0
		for i := 0; i < int(s.fast.limit); i++ {
			ft := *s.fast.count(i)
			if ft != 0 && ft != 5 {
				t.Errorf("slot %d holds %d objects, want 0 or 5", i, ft)
			}
			n += int(ft)
		}
		if n != 5 {
			t.Errorf("per-CPU full stacks hold %d objects, want 5", n)
		}
		s.checkSlots(t)
		for i := 4; i >= 0; i-- {
			if o, ok := p.Get(); !ok || o != objs[i] {
				t.Fatalf("Get = %v, %v; want object %d from the cache", o, ok, i)
			}
		}
		for i := 0; i < int(s.fast.limit); i++ {
			if *s.fast.count(i) != 0 {
				t.Errorf("slot %d not empty after the Gets", i)
			}
		}
		s.checkSlots(t)
	})
}

// TestPoolLevels walks one CPU's objects through every level
// deterministically: the CPU's cache, this P's cache (when the CPU's is
// full, and for every Put while the collector marks), the shared level,
// then drop; Get takes them back in that order.
func TestPoolLevels(t *testing.T) {
	if !fastPathPool() {
		t.Skip("fast path off")
	}
	p := &Pool[testObj]{PerCPU: 2, Shared: 1}
	objs := make([]*testObj, 7)
	for i := range objs {
		objs[i] = &testObj{id: uint64(i)}
	}
	onOneCPU(t, func() {
		s := p.storage()
		pid := runtime_procPin()
		runtime_procUnpin()
		levels := func(name string, cpu, perP, shared int) {
			t.Helper()
			s.checkSlots(t)
			n := 0
			for i := 0; i < int(s.fast.limit); i++ {
				n += int(*s.fast.count(i))
			}
			if n != cpu || s.shards[pid].n != perP || len(s.shared) != shared {
				t.Fatalf("%s: CPU caches hold %d, this P's %d, shared %d; want %d, %d, %d",
					name, n, s.shards[pid].n, len(s.shared), cpu, perP, shared)
			}
		}
		p.Put(objs[0])
		p.Put(objs[1])
		levels("two Puts", 2, 0, 0)
		p.Put(objs[2])
		levels("CPU cache full", 2, 1, 0)
		// While the collector marks, PoolPush refuses to store: Put uses
		// this P's cache. (The flag is faked: this goroutine is the only
		// user of the pool and of the flag's address for the moment.)
		var on uint32 = 1
		real := writeBarrierFlag
		writeBarrierFlag = unsafe.Pointer(&on)
		p.Put(objs[3])
		writeBarrierFlag = real
		levels("write barrier on", 2, 2, 0)
		p.Put(objs[4])
		levels("P cache full", 2, 2, 1)
		p.Put(objs[5])
		levels("every level full", 2, 2, 1)
		if s.retained()[objs[5]] {
			t.Error("dropped object 5 is still referenced by the pool")
		}
		for _, want := range []int{1, 0, 3, 2, 4} {
			if x, ok := p.Get(); !ok || x != objs[want] {
				t.Fatalf("Get = %v, %v; want object %d", x, ok, want)
			}
		}
		levels("emptied", 0, 0, 0)
		if x, ok := p.Get(); ok || x != nil {
			t.Fatalf("Get on an empty pool without New = %v, %v", x, ok)
		}
	})
}

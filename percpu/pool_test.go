//go:build linux

package percpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqop"
	"golang.org/x/sys/unix"
)

// testObj is what the pool tests pool: a unique id, a use count, a
// separately allocated payload (so a freed and reused object or payload
// shows up) and a checksum over all of them that every Get verifies.
type testObj struct {
	id   uint64
	gen  uint64
	sum  uint64
	held atomic.Bool // set while a goroutine owns the object
	data []uint64
	_    [4]uint64
}

func (o *testObj) checksum() uint64 {
	h := o.id*0x9e3779b97f4a7c15 ^ o.gen
	for _, d := range o.data {
		h = (h ^ d) * 0x100000001b3
	}
	return h
}

// tracker creates testObjs with unique ids, records which ones the garbage
// collector freed (runtime.AddCleanup) and checks every object a Get hands
// out.
type tracker struct {
	t       testing.TB
	created atomic.Int64
	dropped atomic.Int64
	freed   []atomic.Bool
	bad     atomic.Int64
}

func newTracker(t testing.TB, maxObjects int) *tracker {
	return &tracker{t: t, freed: make([]atomic.Bool, maxObjects)}
}

// new makes a fresh object, or returns nil once maxObjects exist.
func (tr *tracker) new() *testObj {
	id := tr.created.Add(1) - 1
	if id >= int64(len(tr.freed)) {
		tr.created.Add(-1)
		return nil
	}
	o := &testObj{id: uint64(id), data: make([]uint64, 8)}
	for i := range o.data {
		o.data[i] = uint64(id)<<8 | uint64(i)
	}
	o.sum = o.checksum()
	o.held.Store(true)
	runtime.AddCleanup(o, func(id uint64) { tr.freed[id].Store(true) }, o.id)
	return o
}

func (tr *tracker) errorf(format string, args ...any) {
	if tr.bad.Add(1) <= 10 {
		tr.t.Errorf(format, args...)
	}
}

// checkOut verifies an object a Get returned and takes ownership of it.
func (tr *tracker) checkOut(o *testObj, fromNew bool) {
	if !fromNew && o.held.Swap(true) {
		tr.errorf("object %d handed out while another goroutine holds it", o.id)
	}
	if o.id < uint64(len(tr.freed)) && tr.freed[o.id].Load() {
		tr.errorf("object %d was freed by the garbage collector, yet Get returned it", o.id)
	}
	if got := o.checksum(); got != o.sum {
		tr.errorf("object %d corrupted: checksum %#x, sealed %#x (gen %d)", o.id, got, o.sum, o.gen)
	}
}

// use changes the object and seals it again.
func (o *testObj) use() {
	o.gen++
	o.data[o.gen%uint64(len(o.data))] ^= o.gen * 0x51ed27
	o.sum = o.checksum()
}

// checkIn gives the object back to the pool (p.storage().put reports
// whether the pool kept it; Put itself only adds the nil check).
func (tr *tracker) checkIn(p *Pool[testObj], o *testObj) {
	o.held.Store(false)
	if !p.storage().put(o) {
		tr.dropped.Add(1)
	}
}

// get is Get with the tracker as New.
func (tr *tracker) get(p *Pool[testObj]) *testObj {
	if o := p.storage().get(); o != nil {
		tr.checkOut(o, false)
		return o
	}
	o := tr.new()
	if o != nil {
		tr.checkOut(o, true)
	}
	return o
}

// pooled returns the objects a quiescent pool holds.
func (s *poolState[T]) pooled() []*T {
	var out []*T
	for i := range s.shards {
		sh := &s.shards[i]
		out = append(out, sh.buf[:sh.n]...)
	}
	s.fast.forEachPooled(func(x *T) { out = append(out, x) })
	s.mu.Lock()
	out = append(out, s.shared...)
	s.mu.Unlock()
	return out
}

// retained returns the distinct objects a quiescent pool keeps reachable:
// pooled ones and stale references.
func (s *poolState[T]) retained() map[*T]bool {
	m := map[*T]bool{}
	for i := range s.shards {
		for _, x := range s.shards[i].buf {
			if x != nil {
				m[x] = true
			}
		}
	}
	s.fast.forEachRetained(func(x *T) { m[x] = true })
	s.mu.Lock()
	for _, x := range s.shared {
		m[x] = true
	}
	s.mu.Unlock()
	return m
}

// checkQuiescent verifies a pool nobody uses: every pooled object appears
// once, is not held, is intact, and created = pooled + dropped (+ held).
func (tr *tracker) checkQuiescent(p *Pool[testObj], held int) {
	tr.t.Helper()
	objs := p.storage().pooled()
	seen := map[*testObj]bool{}
	for _, o := range objs {
		if seen[o] {
			tr.errorf("object %d is in the pool twice", o.id)
		}
		seen[o] = true
		if o.held.Load() {
			tr.errorf("object %d is in the pool and held", o.id)
		}
		if o.checksum() != o.sum {
			tr.errorf("pooled object %d corrupted", o.id)
		}
	}
	created, dropped := tr.created.Load(), tr.dropped.Load()
	if created != int64(len(objs))+dropped+int64(held) {
		tr.errorf("conservation: created %d != pooled %d + dropped %d + held %d", created, len(objs), dropped, held)
	}
	if len(objs) > p.Cap() {
		tr.errorf("pool holds %d objects, Cap %d", len(objs), p.Cap())
	}
	if r := len(p.storage().retained()); r > p.Cap() {
		tr.errorf("pool retains %d objects, Cap %d", r, p.Cap())
	}
	p.storage().checkSlots(tr.t)
}

// onOneCPU runs f with GOMAXPROCS 1 on a locked thread bound to one CPU, so
// that every operation uses the same per-CPU (or per-P) cache.
func onOneCPU(t *testing.T, f func()) {
	t.Helper()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	cpu, _ := getcpu()
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	f()
}

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

func countFreed(tr *tracker) int64 {
	var n int64
	for i := range tr.freed {
		if tr.freed[i].Load() {
			n++
		}
	}
	return n
}

// waitFreed runs the collector until at least n tracked objects were freed
// or a few seconds passed (cleanups run asynchronously).
func waitFreed(tr *tracker, n int64) {
	deadline := time.Now().Add(3 * time.Second)
	for countFreed(tr) < n && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

// fillPool puts n fresh tracked objects into p from a helper so that no
// reference stays on the test's stack.
//
//go:noinline
func fillPool(tr *tracker, p *Pool[testObj], n int) {
	for i := 0; i < n; i++ {
		if o := tr.new(); o != nil {
			tr.checkIn(p, o)
		}
	}
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

// poolActor is one goroutine's side of the model: it holds up to hold
// objects and randomly Gets or Puts one per step.
type poolActor struct {
	tr   *tracker
	p    *Pool[testObj]
	rng  *rand.Rand
	mine []*testObj
	hold int
}

func newPoolActor(tr *tracker, p *Pool[testObj], seed uint64, hold int) *poolActor {
	return &poolActor{tr: tr, p: p, rng: rand.New(rand.NewPCG(seed, 1)), mine: make([]*testObj, 0, hold), hold: hold}
}

func (a *poolActor) steps(n int) {
	for i := 0; i < n; i++ {
		if len(a.mine) < a.hold && (len(a.mine) == 0 || a.rng.IntN(2) == 0) {
			if o := a.tr.get(a.p); o != nil {
				o.use()
				a.mine = append(a.mine, o)
			}
		} else {
			k := a.rng.IntN(len(a.mine))
			o := a.mine[k]
			a.mine[k] = a.mine[len(a.mine)-1]
			a.mine = a.mine[:len(a.mine)-1]
			a.tr.checkIn(a.p, o)
		}
	}
}

// drain puts back everything the actor holds.
func (a *poolActor) drain() {
	for _, o := range a.mine {
		a.tr.checkIn(a.p, o)
	}
	a.mine = a.mine[:0]
}

// poolWorkers runs g goroutines doing ops random Get/Put steps each, holding
// up to hold objects at a time, calling between (if not nil) every 64
// steps; at the end every goroutine puts back what it holds.
func poolWorkers(tr *tracker, p *Pool[testObj], g, ops, hold int, between func()) {
	var wg sync.WaitGroup
	for w := 0; w < g; w++ {
		wg.Go(func() {
			a := newPoolActor(tr, p, uint64(w), hold)
			for i := 0; i < ops && tr.bad.Load() == 0; i += 64 {
				a.steps(64)
				if between != nil {
					between()
				}
			}
			a.drain()
		})
	}
	wg.Wait()
}

func poolOps(long, short int) int {
	if testing.Short() {
		return short
	}
	if raceEnabled {
		return short
	}
	return long
}

// TestPoolModel: many goroutines Get and Put unique objects; no object is
// ever held by two goroutines, none is corrupted, and after quiescence every
// object created is in the pool or was dropped.
func TestPoolModel(t *testing.T) {
	for _, cfg := range []struct{ perCPU, shared, hold int }{
		{1, 1, 1}, {4, 8, 6}, {DefaultPerCPU, 0, 3}, {8, -1, 12},
	} {
		t.Run(fmt.Sprintf("perCPU=%d,shared=%d,hold=%d", cfg.perCPU, cfg.shared, cfg.hold), func(t *testing.T) {
			p := &Pool[testObj]{PerCPU: cfg.perCPU, Shared: cfg.shared}
			tr := newTracker(t, 1<<20)
			poolWorkers(tr, p, 4*runtime.GOMAXPROCS(0)+1, poolOps(200000, 20000), cfg.hold, runtime.Gosched)
			tr.checkQuiescent(p, 0)
			t.Logf("created %d, dropped %d, pooled %d, Cap %d", tr.created.Load(), tr.dropped.Load(), len(p.storage().pooled()), p.Cap())
		})
	}
}

// TestPoolGCStress runs the model under constant garbage collection
// (GOGC=1, a goroutine calling runtime.GC back to back, allocators of
// pointerful garbage, concurrent Trims): a pooled object the collector could
// not see would be freed (its cleanup runs) and its memory reused (its
// checksum breaks), and Get would hand it out.
func TestPoolGCStress(t *testing.T) {
	testutil.SetGCPercent(t, 1)
	ops := poolOps(100000, 10000)
	if s := os.Getenv("GORSEQ_POOL_GC_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	p := &Pool[testObj]{PerCPU: 8, Shared: 16}
	tr := newTracker(t, 1<<21)
	pr := testutil.StartPressure(t, testutil.PressureOptions{GC: true, Allocators: 1})
	// Run at least ops steps per goroutine and until minGCs cycles ran
	// (or the time is up).
	minGCs := int64(poolOps(100, 20))
	deadline := time.Now().Add(10 * time.Second)
	for round := 0; round == 0 || pr.GCs() < minGCs && time.Now().Before(deadline); round++ {
		poolWorkers(tr, p, 2*runtime.GOMAXPROCS(0)+1, ops, 4, runtime.Gosched)
		tr.checkQuiescent(p, 0)
		if tr.bad.Load() > 0 {
			return
		}
	}
	// Trim concurrently with use, then keep going on fresh storage.
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; i < 20; i++ {
			p.Trim()
			time.Sleep(time.Millisecond)
		}
	})
	poolWorkers(tr, p, 2*runtime.GOMAXPROCS(0)+1, ops/4, 4, runtime.Gosched)
	bg.Wait()
	pr.Stop()
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	time.Sleep(20 * time.Millisecond)
	// Objects that Trim dropped are gone legitimately; what the pool holds
	// now must be intact and alive.
	for _, o := range p.storage().pooled() {
		if tr.freed[o.id].Load() {
			t.Errorf("pooled object %d was freed by the garbage collector", o.id)
		}
		if o.checksum() != o.sum {
			t.Errorf("pooled object %d corrupted", o.id)
		}
	}
	p.storage().checkSlots(t)
	t.Logf("%d GC cycles, %d objects created, %d freed, GODEBUG=%q", pr.GCs(), tr.created.Load(), countFreed(tr), os.Getenv("GODEBUG"))
	if pr.GCs() == 0 {
		t.Error("no GC cycle ran")
	}
}

// TestPoolGCCheckmark re-runs TestPoolGCStress in a child process with
// GODEBUG=gccheckmark=1: after every concurrent mark phase the runtime
// re-marks the heap with the world stopped and crashes if the concurrent
// phase missed a reachable object (which a pointer stored without a write
// barrier would cause).
func TestPoolGCCheckmark(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("in a child")
	}
	ops := "20000"
	if testing.Short() || raceEnabled {
		ops = "3000"
	}
	res := testutil.RunSubprocess(t, "TestPoolGCStress", []string{"GODEBUG=gccheckmark=1", "GORSEQ_POOL_GC_OPS=" + ops}, testutil.SubprocessOptions{})
	if !strings.Contains(res.Output, "--- PASS: TestPoolGCStress") || !strings.Contains(res.Output, `GODEBUG="gccheckmark=1"`) {
		t.Fatalf("child did not pass TestPoolGCStress under gccheckmark:\n%s", res.Output)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		if strings.Contains(line, "GC cycles") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestPoolMigration runs the model on worker threads that move to another
// CPU between every few operations while every other thread of the process
// has its affinity flipped and is interrupted by signals, so operations
// migrate between and inside critical sections (and between Put's two
// sections).
func TestPoolMigration(t *testing.T) {
	p := &Pool[testObj]{PerCPU: 4, Shared: 4}
	tr := newTracker(t, 1<<20)
	const workers = 4
	actors := make([]*poolActor, workers)
	for w := range actors {
		actors[w] = newPoolActor(tr, p, uint64(100+w), 3)
	}
	ms := testutil.StartMigrationStorm(t, testutil.MigrationOptions{
		Workers:  workers,
		Work:     func(w int) { actors[w].steps(16) },
		TIDs:     testutil.ThreadIDs,
		Interval: 200 * time.Microsecond,
	})
	ss := testutil.StartSignalStorm(t, testutil.SignalStormOptions{Interval: 100 * time.Microsecond})
	// Run the model at least once, and on until some pool critical section
	// was aborted (restarted by the kernel) or the time is up.
	aborts0 := poolAbortTotal()
	deadline := time.Now().Add(3 * time.Second)
	for round := 0; round == 0 || fastPathPool() && poolAbortTotal() == aborts0 && time.Now().Before(deadline); round++ {
		poolWorkers(tr, p, 4, poolOps(100000, 10000), 3, nil)
	}
	mstats, err := ms.Stop()
	if err != nil {
		t.Fatal(err)
	}
	sstats, err := ss.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actors {
		a.drain()
	}
	tr.checkQuiescent(p, 0)
	t.Logf("migrations %d (work calls %d), signals sent %d; %s", mstats.Moves, mstats.WorkCalls, sstats.Sent, poolAborts())
	if len(ms.CPUs()) > 1 && mstats.Moves == 0 {
		t.Error("no migration happened")
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

// checkSlots fails t if a quiescent pool's per-CPU caches are inconsistent.
func (s *poolState[T]) checkSlots(t testing.TB) {
	t.Helper()
	if err := s.fast.checkSlots(); err != nil {
		t.Errorf("per-CPU caches: %v", err)
	}
}

// fastPathPool reports whether new pools use the per-CPU caches.
func fastPathPool() bool {
	var p Pool[int]
	return p.storage().fast.tops != nil
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

// TestPoolStrayThreads runs the model in a child process whose rseq
// registrations start failing after start-up (a seccomp filter installed in
// place): threads created from then on are stray, and their Gets and Puts
// must go to the per-P and shared levels only while registered threads keep
// using their CPU's cache.
func TestPoolStrayThreads(t *testing.T) {
	if !testutil.IsSubprocess() {
		if !proc.fastPath {
			t.Skipf("fast path off: %s", proc.reason)
		}
		if proc.libc.GlibcRegisters() {
			// glibc itself aborts a thread whose registration fails
			// ("Fatal glibc error: rseq registration failed",
			// golang/go#51315), so no stray thread can exist here.
			t.Skip("glibc registers rseq: threads cannot be stray")
		}
		testutil.RunSubprocess(t, "TestPoolStrayThreads", nil,
			testutil.SubprocessOptions{Seccomp: testutil.RseqENOSYS, SeccompInPlace: true, Args: []string{"-test.short"}})
		return
	}
	if !proc.fastPath {
		t.Skipf("fast path off: %s", proc.reason)
	}
	p := &Pool[testObj]{PerCPU: 4, Shared: 8}
	tr := newTracker(t, 1<<20)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			// Locked goroutines force the runtime to start new threads,
			// which cannot register.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			a := newPoolActor(tr, p, uint64(200+w), 3)
			a.steps(20000)
			a.drain()
		})
	}
	poolWorkers(tr, p, 2, 20000, 3, nil)
	wg.Wait()
	tr.checkQuiescent(p, 0)
	stray := 0
	for _, th := range rseqop.Threads() {
		if th.Err != nil {
			stray++
		}
	}
	t.Logf("%d stray threads; %d objects created, %d dropped", stray, tr.created.Load(), tr.dropped.Load())
	if stray == 0 {
		t.Error("no stray thread ran a pool operation")
	}
}

// TestPoolWithoutRseq runs the model in a child process where rseq(2) fails
// from the first instruction (seccomp, EPERM): the pool runs on its
// fallback.
func TestPoolWithoutRseq(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("in a child")
	}
	res := testutil.RunSubprocess(t, "TestPoolModel", nil,
		testutil.SubprocessOptions{Seccomp: testutil.RseqEPERM, Args: []string{"-test.short"}})
	if !strings.Contains(res.Output, "--- PASS: TestPoolModel") {
		t.Fatalf("child:\n%s", res.Output)
	}
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

package percpu

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

func TestPoolLIFOOnOneCPU(t *testing.T) {
	p := Pool[testObj]{PerCPU: 4, Shared: 2}
	objs := make([]*testObj, 6)
	for i := range objs {
		objs[i] = &testObj{id: uint64(i)}
	}
	onOneCPU(t, func() {
		for _, o := range objs {
			p.Put(o)
		}
		p.Put(&testObj{id: 99}) // cache and shared level full: dropped
		// The cache holds 0..3 (LIFO), the shared level 4, 5.
		want := []uint64{3, 2, 1, 0, 5, 4}
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

// poolWorkers runs g goroutines doing ops random Get/Put steps each, holding
// up to hold objects at a time, and returns everything they hold.
func poolWorkers(tr *tracker, p *Pool[testObj], g, ops, hold int, step func()) {
	var wg sync.WaitGroup
	for w := 0; w < g; w++ {
		seed := uint64(w)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 1))
			mine := make([]*testObj, 0, hold)
			for i := 0; i < ops; i++ {
				if len(mine) < hold && (len(mine) == 0 || rng.IntN(2) == 0) {
					if o := tr.get(p); o != nil {
						o.use()
						mine = append(mine, o)
					}
				} else {
					k := rng.IntN(len(mine))
					o := mine[k]
					mine[k] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					tr.checkIn(p, o)
				}
				if step != nil && i%64 == 0 {
					step()
				}
				if tr.bad.Load() > 0 {
					break
				}
			}
			for _, o := range mine {
				tr.checkIn(p, o)
			}
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
// (GOGC=1 and a goroutine calling runtime.GC): a pooled object the collector
// could not see would be freed (its cleanup runs) and reused (its checksum
// breaks), and Get would hand it out.
func TestPoolGCStress(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	ops := poolOps(100000, 10000)
	if s := os.Getenv("GORSEQ_POOL_GC_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	p := &Pool[testObj]{PerCPU: 8, Shared: 16}
	tr := newTracker(t, 1<<21)
	stop := make(chan struct{})
	var gcs atomic.Int64
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.GC()
			gcs.Add(1)
		}
	})
	var sink atomic.Pointer[[]byte]
	garbage := func() {
		b := make([]byte, 512)
		sink.Store(&b)
		runtime.Gosched()
	}
	poolWorkers(tr, p, 2*runtime.GOMAXPROCS(0)+1, ops, 4, garbage)
	// Trim concurrently with use, then keep going on fresh storage.
	bg.Go(func() {
		for i := 0; i < 20; i++ {
			p.Trim()
			time.Sleep(time.Millisecond)
		}
	})
	poolWorkers(tr, p, 2*runtime.GOMAXPROCS(0)+1, ops/4, 4, garbage)
	close(stop)
	bg.Wait()
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	time.Sleep(20 * time.Millisecond)
	// Objects trimmed away count as dropped: recount against the current
	// storage only where no Trim ran, so check integrity of what is pooled.
	for _, o := range p.storage().pooled() {
		if tr.freed[o.id].Load() {
			t.Errorf("pooled object %d was freed by the garbage collector", o.id)
		}
		if o.checksum() != o.sum {
			t.Errorf("pooled object %d corrupted", o.id)
		}
	}
	t.Logf("%d GC cycles, %d objects created, %d freed, godebug %q", gcs.Load(), tr.created.Load(), countFreed(tr), os.Getenv("GODEBUG"))
	if gcs.Load() == 0 {
		t.Error("no GC cycle ran")
	}
}

// TestPoolGCCheckmark re-runs TestPoolGCStress in a child process with
// GODEBUG=gccheckmark=1: after every concurrent mark phase the runtime
// re-marks the heap stop-the-world and crashes if the concurrent phase missed
// a reachable object (a pointer written without a write barrier would be
// one).
func TestPoolGCCheckmark(t *testing.T) {
	if os.Getenv("GORSEQ_POOL_CHILD") != "" {
		t.Skip("in the child")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolGCStress$", "-test.count=1", "-test.v")
	ops := "20000"
	if testing.Short() || raceEnabled {
		ops = "3000"
	}
	cmd.Env = append(os.Environ(), "GORSEQ_POOL_CHILD=1", "GODEBUG=gccheckmark=1", "GORSEQ_POOL_GC_OPS="+ops)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPoolGCStress") {
		t.Fatalf("child with GODEBUG=gccheckmark=1: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "GC cycles") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestPoolMigration runs the model while half the goroutines sit on locked
// threads whose CPU affinity flips between every CPU, so operations migrate
// between and inside critical sections (and between Get's and Put's two
// sections).
func TestPoolMigration(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if all.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		t.Skip("needs two CPUs")
	}
	p := &Pool[testObj]{PerCPU: 4, Shared: 4}
	tr := newTracker(t, 1<<20)
	ops := poolOps(100000, 10000)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			defer unix.SchedSetaffinity(0, &all)
			flip := w
			var one unix.CPUSet
			poolWorkers(tr, p, 1, ops, 3, func() {
				flip++
				one.Zero()
				one.Set(cpus[flip%len(cpus)])
				unix.SchedSetaffinity(0, &one)
			})
		})
	}
	poolWorkers(tr, p, 4, ops, 3, nil)
	wg.Wait()
	tr.checkQuiescent(p, 0)
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

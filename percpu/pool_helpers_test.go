//go:build linux

package percpu

// Helpers of the Pool tests: tracked objects that detect double hand-outs,
// corruption and premature frees, the pool's levels seen from inside, and
// model workers.

import (
	"math/rand/v2"
	"runtime"
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

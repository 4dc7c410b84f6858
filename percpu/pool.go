package percpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Pool is a bounded set of reusable *T objects: a cache per CPU, a cache
// per P (runtime processor) and a shared overflow level, in the spirit of
// tcmalloc's per-CPU slabs and librseq's per-CPU lists.
//
// On the fast path (Status().FastPath) Get and Put are one rseq critical
// section each on the calling CPU's cache: no lock, no atomic
// read-modify-write, no runtime.LockOSThread. When this CPU's cache is
// empty Get tries this P's cache, then the shared level (a mutex-protected
// stack), then New. When this CPU's cache is full, or the garbage collector
// is marking (see below), or the thread has no rseq registration, Put tries
// this P's cache, then the shared level, then drops the object. Get does
// not look into other CPUs' caches: it may call New while they hold
// objects. Where the fast path is off (ModeNone, the purego tag, other
// platforms) there are no per-CPU caches: the per-P caches, touched only
// while the goroutine is pinned to its P as in sync.Pool, come first.
//
// Unlike sync.Pool, pooled objects survive garbage collection: the pool
// keeps what it holds until Get takes it or Trim drops it. Memory is bounded
// instead: the pool keeps at most Cap objects reachable, counting the stale
// references described below, and Put drops (leaves to the garbage
// collector) an object that finds every level full. Get and Put allocate
// nothing once the pool's storage exists (the first Get or Put, and the
// first after Trim, allocate it).
//
// Memory ordering: what a goroutine wrote to an object before Put happens
// before what the goroutine that Gets the same object does with it.
//
// Garbage collector safety: the per-CPU caches are written by assembly,
// which has no write barrier, so their critical sections store or clear a
// pointer only while the collector is not marking (they read the runtime's
// write barrier flag in the same assembly function). While it marks, Get
// still pops this CPU's cache and leaves the popped pointer behind as a stale
// reference, and Put still pushes there when that entry already holds the
// object it puts (as a goroutine does that puts back what it got, last got
// first put); any other Put goes to the per-P cache. Stale references keep
// their objects alive until a later Put reuses the entry; they count towards
// Cap, and Trim drops them. Rarely, an abort right after Get's clear drops
// the popped object from the pool. The proof is on poolFast (pool_fast.go);
// TestPoolGCStress and TestPoolGCCheckmark check it under constant
// collection.
//
// The zero Pool is ready to use: its storage is allocated by the first Get
// or Put from PerCPU and Shared. A Pool must not be copied after first use.
type Pool[T any] struct {
	// New, if not nil, makes an object when Get finds the pool empty.
	New func() *T

	// PerCPU is the number of objects each CPU's cache holds, and each P's
	// cache. 0 means DefaultPerCPU; values above MaxPerCPU are clamped.
	// Read when the pool allocates its storage (the first use and the
	// first use after Trim), which takes about 8 bytes per object per
	// cache (Status().Slots CPU caches on the fast path, plus GOMAXPROCS P
	// caches).
	PerCPU int

	// Shared is the number of objects the shared overflow level holds. 0
	// means PerCPU times the number of per-CPU caches (per-P caches on the
	// fallback); a negative value means no shared level; values above
	// MaxShared are clamped. Read with PerCPU; the level's 8 bytes per
	// object are allocated with the storage.
	Shared int

	mu    sync.Mutex // serialises allocation of the storage and Trim
	state atomic.Pointer[poolState[T]]
}

// Bounds of Pool.PerCPU and Pool.Shared.
const (
	DefaultPerCPU = 32
	MaxPerCPU     = 1 << 16
	MaxShared     = 1 << 20
)

// Get removes an object from the pool and returns it with true. If the pool
// is empty it returns New() (ok is true when New returned non-nil) or, if New
// is nil, (nil, false). The caller owns the object until it Puts it back.
//
// Get inlines into the caller: one call of the generated hot op poolGet,
// whose critical section pops this CPU's cache, and which jumps to the slow
// path (getSlow) for everything else.
func (p *Pool[T]) Get() (*T, bool) {
	x := poolGet(unsafe.Pointer(&p.state))
	if raceEnabled {
		p.raceSync()
	}
	return (*T)(x), x != nil
}

// raceSync gives the race detector, in race builds, the happens-before edge
// from a Put to the Get of the same object that the critical sections
// provide but it cannot see (see poolFast.raceSync).
func (p *Pool[T]) raceSync() {
	if s := p.state.Load(); s != nil {
		s.fast.raceSync.Add(1)
	}
}

// getSlow is Get when this CPU's cache cannot serve it: the per-P and
// shared levels, then New. It runs as poolGet's slow path, on the
// type-erased Pool[poolAny] (see poolAny), and returns nil only when New is
// nil or returned nil.
func (p *Pool[T]) getSlow() *T {
	s := p.state.Load()
	if s != nil && !raceEnabled && s.fast.tops == nil {
		// The fallback's common case: this P's stack.
		id := runtime_procPin()
		if id < len(s.shards) {
			if x := s.shards[id].pop(); x != nil {
				runtime_procUnpin()
				return x
			}
		}
		runtime_procUnpin()
		x, _ := p.orNew(s.sharedGet())
		return x
	}
	if s == nil {
		s = p.storage() // the first use allocates the storage
	}
	x, _ := p.orNew(s.get())
	return x
}

// orNew returns x, or if x is nil what New makes.
func (p *Pool[T]) orNew(x *T) (*T, bool) {
	if x != nil {
		return x, true
	}
	if p.New != nil {
		x = p.New()
		return x, x != nil
	}
	return nil, false
}

// Put adds x to the pool. Put(nil) does nothing. If every level of the pool
// is full, x is dropped and left to the garbage collector. The caller must
// not use x after Put.
//
// Put inlines into the caller: one call of the generated hot op poolPut,
// whose critical section pushes x on this CPU's cache while the collector is
// not marking, and which jumps to the slow path (putSlow) for everything
// else.
func (p *Pool[T]) Put(x *T) {
	if raceEnabled {
		p.raceSync()
	}
	poolPut(unsafe.Pointer(&p.state), unsafe.Pointer(x))
}

// putSlow is Put when this CPU's cache cannot take x (full, collector
// marking, thread without rseq, first use, no fast path): the per-P and
// shared levels. It runs as poolPut's slow path, on the type-erased
// Pool[poolAny] (see poolAny).
func (p *Pool[T]) putSlow(x *T) {
	if x == nil {
		return
	}
	s := p.state.Load()
	if s != nil && !raceEnabled && s.fast.tops == nil {
		// The fallback's common case: this P's stack.
		id := runtime_procPin()
		if id < len(s.shards) && s.shards[id].push(x) {
			runtime_procUnpin()
			return
		}
		runtime_procUnpin()
		s.sharedPut(x)
		return
	}
	if s == nil {
		s = p.storage() // the first use allocates the storage
	}
	if runtimeWriteBarrier.enabled {
		// The collector is marking: PoolPush would fail again, so go
		// straight to the per-P and shared levels (Go stores, with
		// barriers). A stale flag read only costs a level.
		s.putSlow(x)
		return
	}
	s.put(x)
}

// Cap returns the most objects the pool keeps reachable (per-CPU caches,
// stale references included, plus the shared level) with its current
// storage; it allocates the storage if the pool has none.
func (p *Pool[T]) Cap() int {
	s := p.storage()
	return (s.slots+len(s.shards))*s.perCPU + s.sharedCap
}

// Trim drops every object the pool holds, stale references included, and
// frees its storage; the next Get or Put allocates fresh storage (reading
// PerCPU and Shared again). A Get or Put running concurrently with Trim may
// still act on the old storage: such a Get may return an object from it, and
// such a Put may drop its object. Use Trim where sync.Pool would have let a
// garbage collection cycle empty the pool.
func (p *Pool[T]) Trim() {
	p.mu.Lock()
	p.state.Store(nil)
	p.mu.Unlock()
}

// storage returns the pool's current storage, allocating it if needed.
func (p *Pool[T]) storage() *poolState[T] {
	if s := p.state.Load(); s != nil {
		return s
	}
	return p.allocState()
}

func (p *Pool[T]) allocState() *poolState[T] {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.state.Load(); s != nil {
		return s
	}
	s := newPoolState[T](p.PerCPU, p.Shared, proc.fastPath)
	p.state.Store(s)
	return s
}

// poolState is one generation of a Pool's storage. Trim replaces it; an
// operation that loaded the old one finishes on it and what it leaves there
// becomes garbage.
type poolState[T any] struct {
	// Per-CPU caches (fast.tops != nil): see pool_fast.go. First, at the
	// offsets the hot ops read (gen/ops PoolState*, checked by a test).
	fast poolFast[T]

	perCPU int // capacity of one CPU's or P's cache
	slots  int // number of per-CPU caches (0 without the fast path)

	// One cache per P, indexed by the P id the goroutine is pinned to.
	shards []poolShard[T]

	// The shared level.
	mu        sync.Mutex
	shared    []*T // len <= sharedCap, preallocated
	sharedCap int
}

// newPoolState allocates storage; fast asks for the per-CPU caches (used if
// they can be allocated) in front of the per-P caches.
func newPoolState[T any](perCPU, shared int, fast bool) *poolState[T] {
	if perCPU <= 0 {
		perCPU = DefaultPerCPU
	}
	perCPU = min(perCPU, MaxPerCPU)
	s := &poolState[T]{perCPU: perCPU}
	if fast && s.fast.init(proc.slots, perCPU) {
		s.slots = proc.slots
	}
	s.shards = make([]poolShard[T], fallbackSlots())
	for i := range s.shards {
		s.shards[i].buf = make([]*T, perCPU)
	}
	switch {
	case shared == 0 && s.slots > 0:
		s.sharedCap = perCPU * s.slots
	case shared == 0:
		s.sharedCap = perCPU * len(s.shards)
	case shared > 0:
		s.sharedCap = shared
	}
	s.sharedCap = min(s.sharedCap, MaxShared)
	s.shared = make([]*T, 0, s.sharedCap)
	return s
}

// get takes an object from the levels in order, or returns nil: what Get
// does before New (Get has the first step inline). PoolPop registers the
// thread and retries when it has no area yet (the generated opPoolPop).
func (s *poolState[T]) get() *T {
	if s.fast.tops != nil {
		if x, st := s.fast.pop(); st == zopStatusOK {
			return x
		}
	}
	return s.getSlow()
}

// put adds x to the first level with room and reports whether one kept it
// (false: dropped): what Put does (Put has the first step inline).
func (s *poolState[T]) put(x *T) bool {
	if s.fast.tops != nil && s.fast.push(x) == zopStatusOK {
		return true
	}
	return s.putSlow(x)
}

// getSlow takes an object from this P's cache or the shared level, or
// returns nil.
func (s *poolState[T]) getSlow() *T {
	if x := s.shardGet(); x != nil {
		return x
	}
	return s.sharedGet()
}

// putSlow adds x to this P's cache or the shared level and reports whether
// it kept it (false: dropped).
func (s *poolState[T]) putSlow(x *T) bool {
	if s.shardPut(x) {
		return true
	}
	return s.sharedPut(x)
}

// sharedGet pops an object from the shared level, or returns nil.
func (s *poolState[T]) sharedGet() *T {
	if s.sharedCap == 0 {
		return nil
	}
	s.mu.Lock()
	var x *T
	if n := len(s.shared); n > 0 {
		x = s.shared[n-1]
		s.shared[n-1] = nil
		s.shared = s.shared[:n-1]
	}
	s.mu.Unlock()
	return x
}

// sharedPut pushes x on the shared level if it has room and reports whether
// it did; otherwise x is dropped.
func (s *poolState[T]) sharedPut(x *T) bool {
	if s.sharedCap == 0 {
		return false
	}
	s.mu.Lock()
	ok := len(s.shared) < s.sharedCap
	if ok {
		s.shared = append(s.shared, x)
	}
	s.mu.Unlock()
	return ok
}

// poolShard is one P's cache. Outside race builds it is
// touched only by a goroutine pinned to that P (runtime.procPin disables
// preemption, as sync.Pool's per-P private slot relies on), so it needs no
// lock; race builds take mu instead, so the race detector sees the ordering.
type poolShard[T any] struct {
	buf []*T // the stack: buf[:n] are pooled objects, buf[n:] nil
	n   int
	mu  sync.Mutex // race builds only
	_   [128 - (unsafe.Sizeof([]*T{})+unsafe.Sizeof(int(0))+unsafe.Sizeof(sync.Mutex{}))%128]byte
}

// fallbackSlots is the number of P caches a pool gets: one per P at
// allocation time. A goroutine on a P beyond them (GOMAXPROCS raised later)
// uses the shared level.
func fallbackSlots() int {
	return max(runtime.GOMAXPROCS(0), 1)
}

func (s *poolState[T]) shardGet() *T {
	if raceEnabled {
		id := shardHint()
		if id >= len(s.shards) {
			return nil
		}
		sh := &s.shards[id]
		sh.mu.Lock()
		x := sh.pop()
		sh.mu.Unlock()
		return x
	}
	id := runtime_procPin()
	var x *T
	if id < len(s.shards) {
		x = s.shards[id].pop()
	}
	runtime_procUnpin()
	return x
}

func (s *poolState[T]) shardPut(x *T) bool {
	if raceEnabled {
		id := shardHint()
		if id >= len(s.shards) {
			return false
		}
		sh := &s.shards[id]
		sh.mu.Lock()
		ok := sh.push(x)
		sh.mu.Unlock()
		return ok
	}
	id := runtime_procPin()
	ok := false
	if id < len(s.shards) {
		ok = s.shards[id].push(x)
	}
	runtime_procUnpin()
	return ok
}

func (sh *poolShard[T]) pop() *T {
	n := sh.n
	if n == 0 {
		return nil
	}
	n--
	x := sh.buf[n]
	sh.buf[n] = nil
	sh.n = n
	return x
}

func (sh *poolShard[T]) push(x *T) bool {
	n := sh.n
	if n >= len(sh.buf) {
		return false
	}
	sh.buf[n] = x
	sh.n = n + 1
	return true
}

package percpu

import (
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// Sharded is a value of type T kept once per CPU (golang/go#18802's sharded
// value): Update runs a function on the calling CPU's copy under that
// copy's lock, and Range, All and Merge visit every copy. Concurrent
// Updates on different CPUs touch different cache lines and, while nobody
// contends, take their lock with one rseq critical section: no atomic
// read-modify-write instruction on the way in, one atomic store on the way
// out.
//
// Use it for data that is written often from every CPU and read rarely as a
// whole: statistics, histograms, maps of counts, per-CPU caches or random
// sources. T may be of any size and may hold pointers; each shard (lock
// word and T) sits on cache lines of its own.
//
// The zero value is ready to use; the shards are allocated by the first
// call. A Sharded must not be copied after first use.
//
// Memory ordering: each shard's lock orders the functions that run on that
// shard, as a sync.Mutex would: everything one function did to its *T
// happens before the next function (Update's, Range's or All's) that gets
// the same shard. Nothing orders functions on different shards, and an
// Update may run on any shard (usually the calling CPU's, but see below).
//
// Where the fast path is off (see Status; also on Linux < 5.10, which lacks
// the rseq fence Range needs), on threads that cannot use rseq and when the
// calling CPU's shard is busy, Update uses the locked shards instead: one
// T per slot behind a lock word taken with an atomic compare-and-swap,
// chosen by the current P. They are part of
// the value like the per-CPU shards: Range, All and Merge visit them too.
// Memory: two copies of T per slot (CPU or mm_cid), each padded by a cache
// line.
type Sharded[T any] struct {
	_ noCopy
	// cpu is the per-CPU shards' parameters, copied from the table for
	// the hot op shardLock, which reads them without the table's
	// indirection (a dependent load less). cpu and tab have the layout
	// of shardedHead (checked by TestHotOpLayout).
	cpu shardCPU
	tab atomic.Pointer[shardTable[T]]
	// mu serialises the lazy allocation and Range/All: those claim the
	// per-CPU shards from whatever CPU they run on, and the claim protocol
	// (DESIGN.md, "Sharded") allows one claimer at a time.
	mu sync.Mutex
}

// shardCPU is where a Sharded's per-CPU shards are, at offsets gen/ops
// fixes (Shard*). Each field is written once (atomically) after the table
// is published, base last, and stays 0 without per-CPU shards: a reader
// that sees a 0 anywhere leaves the hot op for the slow path, whatever
// order its loads were satisfied in.
type shardCPU struct {
	base   unsafe.Pointer // &cpu[1].lock
	stride uintptr
	limit  uintptr
}

// shardedHead is the start of every Sharded[T] after its zero-size
// noCopy: the type-erased view shardLockSlow gets.
type shardedHead struct {
	cpu shardCPU
	tab unsafe.Pointer // *shardTable[T], whose first field is a shardHead
}

// noCopy makes go vet's copylocks check report copies of a Sharded.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// Lock word values of a shard.
const (
	shardFree = 0
	// shardLocal: a per-CPU shard taken by a critical section (shardLock
	// or LoadCbneStore, 0 -> 1) that ran on the CPU (or mm_cid) the shard
	// belongs to; a locked shard taken by a compare-and-swap.
	shardLocal = 1
	// shardRemote: claimed by Range/All with an atomic compare-and-swap,
	// confirmed after an rseq fence.
	shardRemote = 2
)

// shardedTries bounds how often Update runs the lock's critical section
// (the first try included) when it finds the shard taken (a holder that was preempted or moved to
// another CPU inside its function, or Range) before it takes a locked shard
// instead. The holder cannot release the lock while the contender occupies
// its CPU, so spinning longer would only burn the CPU.
const shardedTries = 3

// shardTable is a Sharded's storage, allocated once.
type shardTable[T any] struct {
	shardHead // first: shardLockSlow reads it through Sharded.tab
	// cpu[1:] are the per-CPU shards, indexed like every per-CPU
	// structure (Status().Index); cpu[0] only pads. Empty when the fast
	// path is off.
	cpu []cpuShard[T]
	// locked are the shards of the fallback.
	locked []cpuShard[T]
}

// shardHead is the part of a shardTable that does not depend on T: what
// the type-erased slow path needs.
type shardHead struct {
	// base is &cpu[1].lock (nil without per-CPU shards), stride the
	// distance between shards (in both arrays), limit the number of
	// per-CPU shards.
	base   unsafe.Pointer
	stride uintptr
	limit  uintptr
	// lockedBase is &locked[0].lock, lockedN the number of locked shards.
	lockedBase unsafe.Pointer
	lockedN    uintptr
}

// cpuShard is one shard, per-CPU or locked: a lock word, then T. The
// trailing pad keeps the last cache line of one shard's data off the next
// shard's lock word and data. Update works on the shard's address (its
// lock word), whichever array it is in.
type cpuShard[T any] struct {
	// _ aligns the shard to 8 bytes on 32-bit platforms too (atomic.Uint64
	// carries that alignment), where the locked shards' 64-bit atomics
	// need it.
	_    [0]atomic.Uint64
	lock uint64 // shardFree, shardLocal or shardRemote
	val  T
	_    [cacheLineSize]byte
}

const cacheLineSize = 64

// shardedRseq reports whether new Shardeds get per-CPU shards: the
// critical sections work and so does the rseq fence Range relies on.
func shardedRseq() bool { return proc.fastPath && proc.fenceErr == nil }

// table returns the storage, allocating it on first use.
func (s *Sharded[T]) table() *shardTable[T] {
	if t := s.tab.Load(); t != nil {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tab.Load(); t != nil {
		return t
	}
	n := max(proc.slots, 1)
	t := &shardTable[T]{locked: make([]cpuShard[T], n)}
	t.stride = unsafe.Sizeof(t.locked[0])
	t.lockedBase, t.lockedN = unsafe.Pointer(&t.locked[0].lock), uintptr(n)
	if shardedRseq() {
		t.cpu = make([]cpuShard[T], n+1)
		t.base = unsafe.Pointer(&t.cpu[1].lock)
		t.limit = uintptr(n)
	}
	s.tab.Store(t)
	if t.limit != 0 {
		// The hot op's copy, base last (see shardCPU), after tab: once
		// shardLock sees base, its slow path sees the table.
		atomic.StoreUintptr(&s.cpu.stride, t.stride)
		atomic.StoreUintptr(&s.cpu.limit, t.limit)
		atomic.StorePointer(&s.cpu.base, t.base)
	}
	return t
}

// Update runs fn on a shard, under that shard's lock, and returns when fn
// returns. The shard is the calling CPU's where it can be; fn gets a
// pointer to the shard's T, valid only until fn returns.
//
// The lock is taken by a critical section that stores 1 in the lock word of
// the CPU it runs on if the word is 0, and released with a release store
// wherever fn returns: the goroutine may be preempted or move to another CPU
// inside fn. A goroutine that finds its CPU's shard taken (its holder was
// preempted or moved, or Range holds it) tries the section twice more, then
// takes the first free locked shard starting at its P's; when all are
// taken it retries them after yields, then after sleeps growing to a
// millisecond. It never spins on a holder that cannot run, and a function
// that blocks holds up only its own shard.
//
// If fn panics, the lock is released and the panic continues. fn must not
// call Update, Range, All or Merge on the same Sharded: a nested Update may
// run on another shard or wait forever (when no other shard is free), and
// Range, All and Merge deadlock.
func (s *Sharded[T]) Update(fn func(*T)) {
	// One call of the hot op takes the CPU's shard; every other case
	// (first use, a taken shard, no rseq) is its slow path's, which
	// returns a locked shard's address or, before the first allocation,
	// nil.
	p := shardLock(unsafe.Pointer(&s.cpu))
	if p == nil {
		p = s.lockFirst()
	}
	shardAcquired(p)
	// The release: an atomic store, which on amd64 is an XCHG (a plain
	// MOV would do, but only from assembly, and that call costs more than
	// the XCHG; arm64: STLR). Deferred so that a panicking fn releases
	// the lock; the defer is open-coded (about 1.4 ns here at -cpu 1) but
	// keeps Update from inlining (BenchmarkShardedRelease,
	// docs/bench-sharded.txt).
	defer atomic.StoreUint64((*uint64)(p), shardFree)
	fn(&(*cpuShard[T])(p).val)
}

// lockFirst allocates the shards and takes one (Update's first call).
func (s *Sharded[T]) lockFirst() unsafe.Pointer {
	s.table()
	return shardLockSlow(unsafe.Pointer(&s.cpu))
}

// shardLockSlow is shardLock's slow path (same frame; DESIGN.md, "Hot
// ops"): it returns the address of a shard it locked (a per-CPU shard after
// a retry, else a locked shard), or nil when the Sharded has no table yet.
// It registers the thread if it has no area yet, tries the CPU's shard
// again when it was taken, and otherwise takes a locked shard. lockFirst
// calls it too.
func shardLockSlow(s unsafe.Pointer) unsafe.Pointer {
	t := (*shardHead)(atomic.LoadPointer(&(*shardedHead)(s).tab))
	if t == nil {
		return nil
	}
	// shardLock made the first try; opLoadCbneStore registers the thread
	// and retries when it has no area yet.
	for try := 1; t.limit != 0 && try < shardedTries; try++ {
		idx, st := opLoadCbneStore(t.base, t.stride, t.limit, shardFree, shardLocal)
		if st == zopStatusOK {
			return unsafe.Add(t.base, idx*t.stride)
		}
		if st != 1 { // not "the shard is taken": a stray thread or an index beyond the shards
			break
		}
	}
	return t.lockLocked()
}

// shardAcquired completes the acquire of the shard at p, whichever way it
// was taken: on arm64 a barrier after the critical section
// (shardAcquireFence), under the race detector an atomic load of the word,
// which gives it the edge from the last release store (it cannot see the
// critical section's plain load).
func shardAcquired(p unsafe.Pointer) {
	shardAcquireFence()
	if raceEnabled {
		atomic.LoadUint64((*uint64)(p))
	}
}

// shardUnlock releases the shard at p (per-CPU or locked), as Update does.
func shardUnlock(p unsafe.Pointer) { atomic.StoreUint64((*uint64)(p), shardFree) }

// lockLocked takes a locked shard and returns its address: the current P's
// if it is free, else the next free one. When all are taken it tries them
// again after a yield, then after sleeps growing to a millisecond, rather
// than wait on one: that one's holder may be blocked inside its function,
// and the others may free up long before.
func (t *shardHead) lockLocked() unsafe.Pointer {
	n := int(t.lockedN)
	h := shardHint() % n
	for round := 0; ; round++ {
		for i := range n {
			p := unsafe.Add(t.lockedBase, uintptr((h+i)%n)*t.stride)
			if shardTryLock((*uint64)(p)) {
				return p
			}
		}
		shardBackoff(round)
	}
}

// shardTryLock takes a locked shard's word with a compare-and-swap (after a
// plain atomic load, so a taken word costs no exclusive cache line).
func shardTryLock(w *uint64) bool {
	return atomic.LoadUint64(w) == shardFree && atomic.CompareAndSwapUint64(w, shardFree, shardLocal)
}

// updateLocked runs fn on a locked shard (the fallback alone, for tests and
// benchmarks).
func (t *shardTable[T]) updateLocked(fn func(*T)) {
	p := t.lockLocked()
	defer shardUnlock(p)
	fn(&(*cpuShard[T])(p).val)
}

// Range calls fn for every shard, each under its lock, so fn sees an exact
// state of each shard; shards are visited one after another, not all at one
// instant. Concurrent Updates go on meanwhile (those whose CPU shard Range
// holds use the locked shards). Range waits for shards whose holders are
// inside Update; one Range (or All) runs at a time per Sharded.
//
// fn must not call Update, Range, All or Merge on the same Sharded (see
// Update). If fn panics, every lock Range holds is released.
func (s *Sharded[T]) Range(fn func(*T)) {
	s.visit(func(p *T) bool { fn(p); return true })
}

// All returns an iterator over the shards, for range-over-func: each shard
// is yielded under its lock, held while the loop body runs for it and
// released when the body continues, breaks, returns or panics. The body is
// bound by Range's rules: it must not call Update, Range, All or Merge on
// the same Sharded, and it holds up Updates that need its shard.
func (s *Sharded[T]) All() iter.Seq[*T] {
	return func(yield func(*T) bool) { s.visit(yield) }
}

// Merge folds every shard of s into one value, in the spirit of
// golang/go#18802's Value: it calls merge(acc, shard) for each shard, under
// that shard's lock (as Range does), starting with acc = init, and returns
// the final acc. merge must not call methods of s.
func Merge[T, R any](s *Sharded[T], init R, merge func(R, *T) R) R {
	acc := init
	s.visit(func(p *T) bool { acc = merge(acc, p); return true })
	return acc
}

// visit yields every shard under its lock until yield returns false.
//
// The per-CPU shards are claimed from whatever CPU this runs on, racing with
// critical sections on their own CPUs that do a plain compare-and-store on
// the same words. The protocol (proved in DESIGN.md, "Sharded"): with s.mu
// held (only one claimer), compare-and-swap every free word 0 -> Remote,
// then run an rseq fence (membarrier PRIVATE_EXPEDITED_RSEQ): every critical
// section in flight during the swap has now either committed or been
// aborted, and every later one reads Remote and fails. A word that still
// reads Remote is then held by this claim; one a section overwrote (it read
// 0 before the swap and committed before the fence) belongs to that
// section's Update and is retried once it is free again.
func (s *Sharded[T]) visit(yield func(*T) bool) {
	t := s.table()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.limit != 0 && !t.visitCPU(yield) {
		return
	}
	for i := range t.locked {
		if !t.locked[i].visitLocked(yield) {
			return
		}
	}
}

// visitLocked yields a locked shard under its lock, waiting for it with
// shardBackoff's yields and sleeps.
func (sh *cpuShard[T]) visitLocked(yield func(*T) bool) bool {
	for round := 0; !shardTryLock(&sh.lock); round++ {
		shardBackoff(round)
	}
	defer shardUnlock(unsafe.Pointer(&sh.lock))
	return yield(&sh.val)
}

// visitCPU visits the per-CPU shards (the caller holds s.mu). It reports
// false when yield stopped the visit. Every claim it takes is released on
// every path: after its visit, or by the deferred release when yield stops
// or panics (set up before the first claim).
func (t *shardTable[T]) visitCPU(yield func(*T) bool) bool {
	pending := make([]int, t.limit)
	for i := range pending {
		pending[i] = i + 1
	}
	var claimed, rest []int
	next := 0 // claimed[next:] are this round's claims not yet visited
	defer func() {
		for _, i := range claimed[next:] {
			// Still Remote means still ours: after the fence nobody else
			// writes a word that reads Remote.
			atomic.CompareAndSwapUint64(&t.cpu[i].lock, shardRemote, shardFree)
		}
	}()
	for round := 0; len(pending) > 0; round++ {
		claimed, rest, next = claimed[:0], rest[:0], 0
		for _, i := range pending {
			if atomic.CompareAndSwapUint64(&t.cpu[i].lock, shardFree, shardRemote) {
				claimed = append(claimed, i)
			} else {
				rest = append(rest, i)
			}
		}
		if len(claimed) > 0 {
			shardFence()
		}
		for next < len(claimed) {
			i := claimed[next]
			sh := &t.cpu[i]
			if atomic.LoadUint64(&sh.lock) != shardRemote {
				// A section that read 0 before the swap took it: that
				// Update holds the shard now. Try again later.
				shardClaimsLost.Add(1)
				rest = append(rest, i)
				next++
				continue
			}
			cont := yield(&sh.val) // a panic here: the deferred release frees this shard too
			atomic.StoreUint64(&sh.lock, shardFree)
			next++
			if !cont {
				return false
			}
		}
		pending, rest = rest, pending
		if len(pending) > 0 {
			shardBackoff(round)
		}
	}
	return true
}

// shardFence is the rseq fence of Range's claims: rseqop.Fence, which
// never fails (membarrier, or a stop of the world should membarrier fail
// after start-up). A variable for TestShardedClaimLost, which plays a
// section that commits during the fence.
var shardFence = rseqop.Fence

// shardClaimsLost counts Range's claims that a critical section in flight
// during the swap overwrote (for the tests: the case the fence exists for).
var shardClaimsLost atomic.Int64

// shardBackoff waits before Range tries again to claim shards held by
// Updates, or an Update tries the locked shards again: a few yields, then
// sleeps growing to a millisecond, so a holder blocked inside its function
// costs the waiters no CPU.
func shardBackoff(round int) {
	if round < 4 {
		runtime.Gosched()
		return
	}
	time.Sleep(time.Microsecond << min(round-4, 10))
}

package percpu

import (
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"
)

// poolFast is the per-CPU level of a Pool on the rseq fast path.
//
// Layout. entries is a []*T of slots*capacity entries that only Go code
// writes (so every pointer store has its write barrier). The slabs live in a
// []uint64 allocation (pointer-free: the collector never scans it), one per
// per-CPU slot, stride bytes apart, each 64-byte aligned:
//
//	+0                 tops: low 32 bits ft (full count), high 32 bits fr (free count)
//	+poolFullOff       full [capacity]uint32: indices of entries holding pooled objects
//	+freeOff           free [capacity]uint32: indices of entries this CPU may fill
//
// Slot i starts with the capacity indices i*capacity ... i*capacity+capacity-1
// on its free stack. The generated ops (gen/ops, "Pool slabs") move indices
// between the stacks of the CPU they run on and load a pointer from entries;
// they never store a pointer.
//
// Index conservation: every entry index is, at any time, in exactly one of
// one slot's full stack, one slot's free stack, spare, or the hands of one
// goroutine between two ops (claimed by PoolClaimFree or PoolPopClaim, not
// yet pushed). Each op moves one index between two of these places in one
// commit, and Go code only moves indices it holds. An index on a full stack
// names an entry that holds a pooled object: PoolPut writes entries[e] in
// the same section that moves e from the free to the full stack (an abort
// leaves the write as a stale reference on a free entry); the two-section
// Put writes entries[e] before PoolPushFull publishes e; and nothing writes
// entries[e] while e is on a full stack (only the holder of an index, or
// the section that holds it, writes its entry).
//
// Why the collector never loses a pooled object:
//   - Pointers live only in entries and in the shared level, both []*T.
//     Go code writes them with write barriers (the hybrid barrier shades the
//     overwritten stale reference and the new object); PoolPut writes
//     entries only after reading the write barrier flag as off, when no
//     barrier is due (see Pool's documentation).
//   - PoolPop loads x = entries[e] inside its critical section; an asm
//     function has no safe point, so no stack scan sees it half way, and
//     its x result is declared unsafe.Pointer, so the caller's frame holds
//     x as a pointer from the return on (an asynchronously preempted frame
//     is scanned conservatively anyway). Until then x is reachable from
//     entries[e]; a Put that reuses e overwrites it with a barrier, which
//     shades x.
//   - The slabs are pointer-free ([]uint64), so the collector never scans
//     them and nothing relies on it.
//
// Ordering: a slot's slab is only written by critical sections of the one
// thread that currently has the slot's index (its cpu_id or mm_cid), one at
// a time; the kernel moves an index to another thread only across a context
// switch or migration, which aborts a section in flight and orders memory.
// So Put's stores (the object, entries[e], then the PoolPushFull commit)
// happen before the PoolPop that hands the object out.
// The race detector cannot see the sections; race builds add
// happens-before edges with raceSync.
type poolFast[T any] struct {
	base       unsafe.Pointer // the first slab (64-byte aligned, inside slabMem)
	entriesPtr unsafe.Pointer // &entries[0]
	stride     uintptr
	limit      uintptr // number of slots (proc.slots)
	capacity   uintptr
	freeOff    uintptr
	entries    []*T
	slabMem    []uint64
	spare      []uint32 // guarded by poolState.mu; capacity len(entries)

	// raceSync gives the race detector the happens-before edges the rseq
	// sections provide but it cannot see (race builds only).
	raceSync atomic.Uint64
}

const (
	poolTopsOff = 0
	poolFullOff = 8
	poolSlabAl  = 64
)

// init allocates the slabs for slots per-CPU caches of perCPU objects and
// reports whether the fast path can be used.
func (f *poolFast[T]) init(slots, perCPU int) bool {
	if slots <= 0 || uint64(slots)*uint64(perCPU) > 1<<31 {
		return false
	}
	f.capacity = uintptr(perCPU)
	f.limit = uintptr(slots)
	f.freeOff = poolFullOff + 4*f.capacity
	f.stride = (f.freeOff + 4*f.capacity + poolSlabAl - 1) &^ (poolSlabAl - 1)
	f.entries = make([]*T, slots*perCPU)
	f.entriesPtr = unsafe.Pointer(unsafe.SliceData(f.entries))
	f.spare = make([]uint32, 0, len(f.entries))
	f.slabMem = make([]uint64, (uintptr(slots)*f.stride+poolSlabAl)/8)
	mem := unsafe.Pointer(unsafe.SliceData(f.slabMem))
	f.base = unsafe.Add(mem, (poolSlabAl-uintptr(mem)%poolSlabAl)%poolSlabAl)
	for i := 0; i < slots; i++ {
		s := unsafe.Add(f.base, uintptr(i)*f.stride)
		free := unsafe.Slice((*uint32)(unsafe.Add(s, f.freeOff)), perCPU)
		for j := range free {
			free[j] = uint32(i*perCPU + j)
		}
		*(*uint64)(s) = uint64(perCPU) << 32 // ft 0, fr perCPU
	}
	return true
}

// slab returns slot i's tops word and stacks (tests and diagnostics).
func (f *poolFast[T]) slab(i int) (tops *uint64, full, free []uint32) {
	s := unsafe.Add(f.base, uintptr(i)*f.stride)
	return (*uint64)(s), unsafe.Slice((*uint32)(unsafe.Add(s, poolFullOff)), f.capacity),
		unsafe.Slice((*uint32)(unsafe.Add(s, f.freeOff)), f.capacity)
}

// poolRetries bounds how often one call runs the slow path (register the
// thread) and retries an op before it falls back to the shared level.
const poolRetries = 2

// get pops an object from this CPU's cache, or returns nil (cache empty,
// stray thread, index out of range).
func (f *poolFast[T]) get(s *poolState[T]) *T {
	for try := 0; ; try++ {
		var x unsafe.Pointer
		var st int
		if proc.useMMCID {
			x, _, _, st = opPoolPopMMCID(f.base, f.stride, f.limit, poolFullOff, f.freeOff, f.capacity, f.entriesPtr)
		} else {
			x, _, _, st = opPoolPopCPU(f.base, f.stride, f.limit, poolFullOff, f.freeOff, f.capacity, f.entriesPtr)
		}
		switch st {
		case 0:
			if raceEnabled {
				f.raceSync.Add(1)
			}
			return (*T)(x)
		case 2: // this CPU's free stack is full: take the index out of it
			return f.getClaim(s)
		case statusUnregistered:
			if try < poolRetries && slowPath() {
				continue
			}
		}
		return nil // 1: empty, or statusIndexRange, or a stray thread
	}
}

// getClaim pops an object and keeps its entry index, which goes to spare.
func (f *poolFast[T]) getClaim(s *poolState[T]) *T {
	var x unsafe.Pointer
	var e uintptr
	var st int
	if proc.useMMCID {
		x, e, _, st = opPoolPopClaimMMCID(f.base, f.stride, f.limit, poolFullOff, f.entriesPtr)
	} else {
		x, e, _, st = opPoolPopClaimCPU(f.base, f.stride, f.limit, poolFullOff, f.entriesPtr)
	}
	if st != 0 {
		return nil
	}
	if raceEnabled {
		f.raceSync.Add(1)
	}
	f.entries[e] = nil // e is ours: no stale reference stays
	if raceEnabled {
		f.raceSync.Add(1)
	}
	s.mu.Lock()
	f.spare = append(f.spare, uint32(e))
	s.mu.Unlock()
	return (*T)(x)
}

// put pushes x on this CPU's cache and reports whether it did; false sends
// x to the shared level.
func (f *poolFast[T]) put(s *poolState[T], x *T) bool {
	e, ok := f.claimFree(s)
	if !ok {
		return false
	}
	if raceEnabled {
		f.raceSync.Add(1)
	}
	f.entries[e] = x // the write barrier runs here, in Go
	if raceEnabled {
		f.raceSync.Add(1)
	}
	return f.pushClaimed(s, x, e, poolNotTried)
}

// poolNotTried stands for "no attempt made yet" where an op status is
// expected.
const poolNotTried = 1 << 30

// pushClaimed pushes entry e, which the caller holds and has filled with x,
// on this CPU's full stack; st is the status of an attempt the caller made
// already, or poolNotTried. It reports whether x is pooled; if not, the
// entry is cleared and its index given back, and x is the caller's again.
func (f *poolFast[T]) pushClaimed(s *poolState[T], x *T, e uintptr, st int) bool {
	for try := 0; ; try++ {
		if st == statusUnregistered {
			if try > poolRetries || !slowPath() {
				break
			}
		} else if st != poolNotTried {
			break // 1: this CPU's full stack is full; or statusIndexRange
		}
		if proc.useMMCID {
			_, st = opPoolPushFullMMCID(f.base, f.stride, f.limit, poolFullOff, f.capacity, e)
		} else {
			_, st = opPoolPushFullCPU(f.base, f.stride, f.limit, poolFullOff, f.capacity, e)
		}
		if st == statusOK {
			return true
		}
	}
	// Give the entry back empty.
	f.entries[e] = nil
	if raceEnabled {
		f.raceSync.Add(1)
	}
	f.releaseIndex(s, e)
	return false
}

// claimFree takes a free entry index: from this CPU's free stack, else from
// spare.
func (f *poolFast[T]) claimFree(s *poolState[T]) (uintptr, bool) {
	for try := 0; ; try++ {
		var e uintptr
		var st int
		if proc.useMMCID {
			e, _, st = opPoolClaimFreeMMCID(f.base, f.stride, f.limit, f.freeOff)
		} else {
			e, _, st = opPoolClaimFreeCPU(f.base, f.stride, f.limit, f.freeOff)
		}
		switch st {
		case 0:
			return e, true
		case 1: // no free index here
			s.mu.Lock()
			n := len(f.spare)
			if n == 0 {
				s.mu.Unlock()
				return 0, false
			}
			e = uintptr(f.spare[n-1])
			f.spare = f.spare[:n-1]
			s.mu.Unlock()
			return e, true
		case statusUnregistered:
			if try < poolRetries && slowPath() {
				continue
			}
		}
		return 0, false
	}
}

// releaseIndex puts an entry index we hold (its entry cleared) back on this
// CPU's free stack, or on spare.
func (f *poolFast[T]) releaseIndex(s *poolState[T], e uintptr) {
	var st int
	if proc.useMMCID {
		_, st = opPoolPushFreeMMCID(f.base, f.stride, f.limit, f.freeOff, f.capacity, e)
	} else {
		_, st = opPoolPushFreeCPU(f.base, f.stride, f.limit, f.freeOff, f.capacity, e)
	}
	if st == 0 {
		return
	}
	s.mu.Lock()
	f.spare = append(f.spare, uint32(e))
	s.mu.Unlock()
}

// forEachPooled calls fn for every object on a full stack (quiescent pool).
func (f *poolFast[T]) forEachPooled(fn func(*T)) {
	for i := 0; i < int(f.limit) && f.base != nil; i++ {
		tops, full, _ := f.slab(i)
		ft := atomic.LoadUint64(tops) & (1<<32 - 1)
		for _, e := range full[:ft] {
			fn(f.entries[e])
		}
	}
}

// forEachRetained calls fn for every non-nil entry: pooled objects and
// stale references (quiescent pool).
func (f *poolFast[T]) forEachRetained(fn func(*T)) {
	for _, x := range f.entries {
		if x != nil {
			fn(x)
		}
	}
}

// checkIndices verifies index conservation on a quiescent pool: every entry
// index is on exactly one stack or on spare, and every index on a full stack
// names a non-nil entry.
func (f *poolFast[T]) checkIndices() error {
	if f.base == nil {
		return nil
	}
	where := make([]int8, len(f.entries))
	mark := func(e uint32, place int8) error {
		if int(e) >= len(where) {
			return fmt.Errorf("index %d out of range (%d entries)", e, len(where))
		}
		if where[e] != 0 {
			return fmt.Errorf("index %d is in two places (%d and %d)", e, where[e], place)
		}
		where[e] = place
		return nil
	}
	for i := 0; i < int(f.limit); i++ {
		tops, full, free := f.slab(i)
		w := atomic.LoadUint64(tops)
		ft, fr := w&(1<<32-1), w>>32
		if ft > uint64(f.capacity) || fr > uint64(f.capacity) {
			return fmt.Errorf("slot %d: tops ft %d fr %d beyond capacity %d", i, ft, fr, f.capacity)
		}
		for _, e := range full[:ft] {
			if err := mark(e, 1); err != nil {
				return fmt.Errorf("slot %d full stack: %v", i, err)
			}
			if f.entries[e] == nil {
				return fmt.Errorf("slot %d full stack: entry %d is nil", i, e)
			}
		}
		for _, e := range free[:fr] {
			if err := mark(e, 2); err != nil {
				return fmt.Errorf("slot %d free stack: %v", i, err)
			}
		}
	}
	for _, e := range f.spare {
		if err := mark(e, 3); err != nil {
			return fmt.Errorf("spare: %v", err)
		}
	}
	for e, w := range where {
		if w == 0 {
			return fmt.Errorf("index %d is lost (in no stack and not spare)", e)
		}
	}
	return nil
}

// poolAborts describes the pool ops' abort counts (tests).
func poolAborts() string {
	var b strings.Builder
	b.WriteString("pool op aborts:")
	for i, op := range zopTable {
		if strings.HasPrefix(op.fn, "opPool") {
			fmt.Fprintf(&b, " %s %d", strings.TrimPrefix(op.fn, "op"), atomic.LoadUint64(&zopAborts[i]))
		}
	}
	return b.String()
}

// poolAbortTotal is the number of aborted pool critical sections so far.
func poolAbortTotal() uint64 {
	var n uint64
	for i, op := range zopTable {
		if strings.HasPrefix(op.fn, "opPool") {
			n += atomic.LoadUint64(&zopAborts[i])
		}
	}
	return n
}

package percpu

import (
	"sync/atomic"
	"unsafe"
)

// poolFast is the per-CPU level of a Pool on the rseq fast path: one stack
// of objects per CPU (per mm_cid where the kernel gives one), pushed and
// popped by the generated ops PoolPush and PoolPop (gen/ops), one critical
// section each.
//
// Layout. Slot i (the CPU's index, checked against limit by the ops) has
//
//	a count n: the word at tops + i*64 (a cache line each), in topsMem, a
//	[]uint64 the collector never scans;
//	its objects: entries[i*span/8 ...][:n], bottom up, in a []*T the
//	collector scans; the entries above n hold stale references or nil.
//
// Each slot's entries start on a cache line of their own (span is a
// multiple of 64 bytes), so two CPUs never write the same line.
//
// Who writes what. A slot's count and entries are written only by critical
// sections of the one thread that currently has the slot's index, one at a
// time; the kernel moves an index to another thread only across a context
// switch or migration, which aborts a section in flight and orders memory.
// So what a goroutine wrote to an object before Put happens before what the
// goroutine that Gets it does. The race detector cannot see the sections;
// race builds add the happens-before edges with raceSync.
//
// Why the collector never loses a pooled object:
//   - Every pooled object is referenced from entries (below its slot's
//     count) or from the Pool's Go-written levels (per-P stacks, shared).
//   - PoolPush stores the pointer without a write barrier, but only after
//     reading the runtime's write barrier flag as off, in the same assembly
//     function: the runtime flips the flag with the world stopped, and an
//     assembly function has no safe point, so the flag stays off until the
//     op returns. With the barrier off, no collection is marking, and
//     compiled Go code stores pointers without a barrier too. The overwritten
//     word is a stale reference or nil; with no mark phase running, dropping
//     it needs no shading either. While the collector marks, PoolPush fails
//     with 2 and Put uses the per-P level, whose stores are Go code.
//   - Pool.Get's hot op PoolGet loads the pointer and stores nil over the
//     entry, only after reading the write barrier flag as off in the same
//     assembly function (as PoolPush): with no mark phase running, deleting
//     a pointer needs no barrier. While the flag is on it pops without the
//     store, leaving the entry as a stale reference (below). An abort
//     between the nil store and the
//     commit leaves a nil entry below the count (a hole): the object is
//     dropped from the pool, and the next PoolGet that meets the hole fails
//     to the slow path, whose PoolPop pops it (pop skips holes).
//   - Pool.Put's hot op PoolPut stores x with the flag on only when the
//     entry already holds x (a stale reference a marking-time Get left):
//     the store writes the value the word holds, so no pointer appears in
//     or disappears from the heap and no barrier is due; a concurrent
//     scan of entries reads x before and after. With the flag on and any
//     other value in the entry it fails, and Put uses the per-P level.
//   - The slow path's PoolPop (a thread's first Get, Get after PoolGet failed)
//     loads the pointer and leaves the entry as it is (a stale reference):
//     a load needs no barrier, and leaving the reference means no deletion
//     barrier is due. The asm function has no safe point,
//     so no stack scan sees the load half way; its x result is declared
//     unsafe.Pointer, so the caller's frame holds x as a pointer from the
//     return on.
//   - Stale references keep objects alive longer, not shorter; they count
//     towards Cap and Trim drops them.
type poolFast[T any] struct {
	tops       unsafe.Pointer // slot 0's count word (64-byte aligned, inside topsMem)
	entriesPtr unsafe.Pointer // slot 0's first entry (64-byte aligned, inside entries)
	limit      uintptr        // number of slots (proc.slots)
	span       uintptr        // bytes from one slot's entries to the next
	capacity   uintptr        // objects one slot holds
	entries    []*T
	topsMem    []uint64

	// raceSync gives the race detector the happens-before edges the rseq
	// sections provide but it cannot see (race builds only).
	raceSync atomic.Uint64
}

const (
	poolLine      = 64 // bytes: a cache line
	poolTopsShift = 6  // log2 of the distance between count words: gen/ops.PoolTopsShift (checked by a test)
)

// init allocates the caches of slots CPUs, perCPU objects each, and
// reports whether the fast path can be used.
func (f *poolFast[T]) init(slots, perCPU int) bool {
	if slots <= 0 || perCPU <= 0 {
		return false
	}
	const ptrSize = unsafe.Sizeof(unsafe.Pointer(nil))
	perLine := poolLine / ptrSize
	f.capacity = uintptr(perCPU)
	f.limit = uintptr(slots)
	f.span = (f.capacity + perLine - 1) / perLine * poolLine
	f.topsMem = make([]uint64, (uintptr(slots)<<poolTopsShift+poolLine)/8)
	f.tops = alignUp(unsafe.Pointer(unsafe.SliceData(f.topsMem)), poolLine)
	f.entries = make([]*T, uintptr(slots)*f.span/ptrSize+perLine)
	f.entriesPtr = alignUp(unsafe.Pointer(unsafe.SliceData(f.entries)), poolLine)
	return true
}

// alignUp returns the first address at or after p that is a multiple of
// align (a power of two), inside the same allocation when the caller
// allocated align bytes of slack.
func alignUp(p unsafe.Pointer, align uintptr) unsafe.Pointer {
	return unsafe.Add(p, (align-uintptr(p)%align)%align)
}

// count returns slot i's count word.
func (f *poolFast[T]) count(i int) *uint64 {
	return (*uint64)(unsafe.Add(f.tops, uintptr(i)<<poolTopsShift))
}

// region returns slot i's entries.
func (f *poolFast[T]) region(i int) []*T {
	return unsafe.Slice((**T)(unsafe.Add(f.entriesPtr, uintptr(i)*f.span)), f.capacity)
}

// pop runs PoolPop (opPoolPop registers the thread and retries when it has
// no area yet); st is its status.
func (f *poolFast[T]) pop() (x *T, st int) {
	var p unsafe.Pointer
	for {
		p, _, st = opPoolPop(f.tops, f.entriesPtr, f.limit, f.span)
		if st != zopStatusOK || p != nil {
			break
		}
		// A hole: the nil entry an aborted poolGet left (its object was
		// dropped). Popping it repaired the cache; pop again.
	}
	if raceEnabled && st == zopStatusOK {
		f.raceSync.Add(1)
	}
	return (*T)(p), st
}

// push runs PoolPush; st is its status (0: pushed; otherwise the cache is
// full, the collector is marking, the thread cannot use rseq or the index
// is out of range).
func (f *poolFast[T]) push(x *T) (st int) {
	if raceEnabled {
		f.raceSync.Add(1)
	}
	_, st = opPoolPush(f.tops, f.entriesPtr, f.limit, f.span, f.capacity, unsafe.Pointer(x), writeBarrierFlag)
	return st
}

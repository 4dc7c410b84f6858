package percpu

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"
)

// The per-CPU arena: the words of every Counter and Float64Counter, packed.
//
// Memory is taken in chunks of arenaColumns cells. A chunk has one region per
// slot (Status().Slots: one per CPU number or mm_cid) plus an overflow region,
// each arenaRegion bytes long and 1<<arenaRegionShift bytes apart; cell c of
// a chunk is the column of words at offset c*8 in every region. A counter
// owns one cell: its word for slot idx is at cell + idx<<arenaRegionShift
// (the critical sections compute that from the idx they read), and its
// overflow word, which only atomics touch, at cell + slots<<arenaRegionShift.
// Two CPUs never write one cache line: their regions are 4 KiB apart, and
// inside a region only that slot's threads write.
//
// On Linux a chunk is an anonymous private mapping outside the Go heap (the
// words hold no pointers): its pages become resident only when a thread
// writes to them, so a region is resident only where some thread with that
// index (an mm_cid is below the number of threads the process runs, a cpu_id
// below the CPUs it may use) updated a counter of that chunk. A process that
// runs on 4 threads of a 128-CPU machine touches 4 regions of each chunk, not
// 128.
//
// A cell returns to the arena when its counter is found unreachable: each
// cell records its owner as a weak pointer (weak.Make of the counter's
// handle), and the arena, before it maps a new chunk, reclaims the cells
// whose owner the garbage collector has collected since the last look (its
// words are zeroed first). Weak pointers, not runtime.AddCleanup: a cleanup
// costs about 90 bytes a counter (its special record and the closure it
// allocates), a weak pointer about 40 (TestArenaMemory measures the
// whole). A counter being added to cannot be reclaimed: the goroutine that
// adds holds a pointer to it (the hot op's argument) until the section
// returns, and the collector scans a goroutine's stack only at a safe point,
// which an assembly function has none of; DESIGN.md ("Counters") says more.
const (
	arenaRegionShift = 12 // gen/ops.ArenaRegionShift (checked by TestHotOpLayout)
	arenaRegion      = 1 << arenaRegionShift
	arenaColumns     = arenaRegion / 8 // cells per chunk
)

// cellHandle is a counter's handle to its cell: the first word of Counter
// and Float64Counter, which their hot ops load inside the section.
type cellHandle struct {
	cell unsafe.Pointer // slot 0's word of the cell; nil until the first Add
}

// arenaChunk is one chunk: its regions and the owner of each cell (a
// slice of its own: 4096 bytes, a size class, where an array in the struct
// would round the struct up to the next class).
type arenaChunk struct {
	base   unsafe.Pointer // region 0
	owners []weak.Pointer[cellHandle]
}

// arena is the set of chunks and the free cells.
type arena struct {
	mu       sync.Mutex
	chunks   map[uintptr]*arenaChunk // by base (cell &^ (arenaRegion-1))
	order    []*arenaChunk           // in the order they were mapped
	free     []unsafe.Pointer        // cells without an owner, zeroed
	gcCycles uint64                  // collections when the arena last reclaimed
	live     int                     // cells with an owner
}

// counterArena is the process's arena.
var counterArena arena

// arenaSlots is the number of slot regions of a chunk (proc.slots when the
// package initialised; the overflow region follows them).
var arenaSlots int

// arenaRegions is the number of regions of a chunk: one per slot and the
// overflow region.
func arenaRegions() int { return arenaSlots + 1 }

// word returns cell's word of region r.
func word(cell unsafe.Pointer, r int) *uint64 {
	return (*uint64)(unsafe.Add(cell, uintptr(r)<<arenaRegionShift))
}

// overflowWord returns cell's overflow word.
func overflowWord(cell unsafe.Pointer) *uint64 { return word(cell, arenaSlots) }

// allocCell returns a zeroed cell owned by h.
func allocCell(h *cellHandle) unsafe.Pointer {
	a := &counterArena
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.free) == 0 {
		a.reclaimLocked()
	}
	if len(a.free) == 0 {
		a.growLocked()
	}
	cell := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	ch, col := a.chunkLocked(cell)
	ch.owners[col] = weak.Make(h)
	a.live++
	return cell
}

// moveCell returns a zeroed cell with the same owner as old, for Reset (old
// keeps its owner until freeCell).
func moveCell(old unsafe.Pointer) unsafe.Pointer {
	a := &counterArena
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.free) == 0 {
		a.growLocked() // no reclaim here: Reset runs at scrape time, keep it short
	}
	cell := a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	och, ocol := a.chunkLocked(old)
	ch, col := a.chunkLocked(cell)
	ch.owners[col] = och.owners[ocol]
	a.live++
	return cell
}

// freeCell zeroes cell and returns it to the arena. No critical section may
// still commit to it (a fence ran since it stopped being reachable through
// a handle, or it never was).
func freeCell(cell unsafe.Pointer) {
	zeroCell(cell)
	a := &counterArena
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, col := a.chunkLocked(cell)
	ch.owners[col] = weak.Pointer[cellHandle]{}
	a.live--
	a.free = append(a.free, cell)
}

// zeroCell zeroes cell's words, writing only those that are not 0, so that
// regions no thread touched stay unmapped.
func zeroCell(cell unsafe.Pointer) {
	for r := range arenaRegions() {
		if w := word(cell, r); atomic.LoadUint64(w) != 0 {
			atomic.StoreUint64(w, 0)
		}
	}
}

// chunkLocked returns the chunk and column of cell.
func (a *arena) chunkLocked(cell unsafe.Pointer) (*arenaChunk, int) {
	base := uintptr(cell) &^ (arenaRegion - 1)
	return a.chunks[base], int(uintptr(cell)-base) / 8
}

// growLocked maps a new chunk and adds its cells to the free list.
func (a *arena) growLocked() {
	base := mapArenaChunk(arenaRegions() * arenaRegion)
	ch := &arenaChunk{base: base, owners: make([]weak.Pointer[cellHandle], arenaColumns)}
	if a.chunks == nil {
		a.chunks = map[uintptr]*arenaChunk{}
	}
	a.chunks[uintptr(base)] = ch
	a.order = append(a.order, ch)
	for c := arenaColumns - 1; c >= 0; c-- {
		a.free = append(a.free, unsafe.Add(base, c*8))
	}
}

// gcCycleSample reads how many collections have completed.
var gcCycleSample = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}

// reclaimLocked returns to the free list the cells whose owner was
// collected, once per collection at most (the scan is over every cell).
func (a *arena) reclaimLocked() {
	metrics.Read(gcCycleSample)
	n := gcCycleSample[0].Value.Uint64()
	if n == a.gcCycles {
		return
	}
	a.gcCycles = n
	for _, ch := range a.order {
		for col := range ch.owners {
			o := &ch.owners[col]
			if *o == (weak.Pointer[cellHandle]{}) || o.Value() != nil {
				continue
			}
			// Collected: nothing can reach the counter, so no goroutine
			// can be adding to it, and no section can still commit (its
			// goroutine would hold the counter).
			*o = weak.Pointer[cellHandle]{}
			cell := unsafe.Add(ch.base, col*8)
			zeroCell(cell)
			a.live--
			a.free = append(a.free, cell)
		}
	}
}

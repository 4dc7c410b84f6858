package percpu

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// Counter is a per-CPU int64 counter: Add updates the word of the CPU (or,
// on Linux 6.3+, of the concurrency ID) the calling thread runs on, with a
// plain load, add and store inside an rseq critical section, so concurrent
// adders on different CPUs never share a cache line and need no atomic
// instruction. Load sums the words.
//
// A Counter is 8 bytes; its words live in the package's per-CPU arena, 8
// bytes per slot (Status().Slots) plus an overflow word, packed with other
// counters' words (see arena.go): thousands of counters, one per label set
// of a metric, cost what they hold. The zero value is ready to use; the
// first Add takes the words. When a Counter becomes unreachable its words
// go back to the arena (after a garbage collection). A Counter must not be
// copied after first use (go vet's copylocks check reports copies).
//
// Memory ordering: Add is not a synchronising operation. Load observes every
// Add that happened before it (in the sense of the Go memory model) and may
// or may not observe concurrent ones. Reset is exact: each Add is counted
// either in the total Reset returns or in the counter afterwards, never in
// both and never lost.
//
// Where rseq is unavailable (see Status) or rseq fences are not (Linux <
// 5.10, needed by Reset), Add falls back to an atomic add on a word chosen
// by the current P, which is still sharded and correct.
type Counter struct {
	_ noCopy
	h cellHandle // first word: counterAdd's base (the hot op loads h.cell inside its section)
}

// counterRseq is true when the counters use critical sections: the fast path
// works and Reset can fence (membarrier PRIVATE_EXPEDITED_RSEQ). Set with
// proc, in mode.go's init.
var counterRseq bool

// Add adds delta to the counter. It inlines into the caller: one call of
// the generated hot op counterAdd, whose critical section adds to this
// CPU's word, and which jumps to counterAddSlow for everything else (first
// use, a thread without rseq, no critical sections).
func (c *Counter) Add(delta int64) {
	counterAdd(unsafe.Pointer(&c.h.cell), delta)
}

// Inc adds 1 to the counter.
func (c *Counter) Inc() { c.Add(1) }

// Dec subtracts 1 from the counter.
func (c *Counter) Dec() { c.Add(-1) }

// addSlow takes the counter's cell on first use and adds through
// opLoadAddLoadLoadAddStore, which registers the calling thread if it has
// no rseq area yet; otherwise it falls back. It is counterAdd's slow path
// (through counterAddSlow).
func (c *Counter) addSlow(delta int64) {
	cell := c.h.load()
	if !counterRseq {
		atomic.AddUint64(word(cell, shardHint()%arenaSlots), uint64(delta))
		return
	}
	if _, st := opLoadAddLoadLoadAddStore(unsafe.Pointer(&c.h.cell), arenaRegion, uintptr(proc.slots), delta); st == zopStatusOK {
		return
	}
	// A stray thread or an index beyond the slots: the critical sections
	// of other threads update the slots non-atomically, so this add must
	// stay out of them.
	atomic.AddUint64(overflowWord(cell), uint64(delta))
}

// load returns the handle's cell, taking one from the arena on first use.
func (h *cellHandle) load() unsafe.Pointer {
	if p := atomic.LoadPointer(&h.cell); p != nil {
		return p
	}
	cell := allocCell(h)
	if atomic.CompareAndSwapPointer(&h.cell, nil, cell) {
		return cell
	}
	freeCell(cell) // another goroutine's first Add won; nothing was added to ours
	return atomic.LoadPointer(&h.cell)
}

// sum returns the sum of cell's words (slots and overflow).
func sumCell(cell unsafe.Pointer) (n uint64) {
	for r := range arenaRegions() {
		n += atomic.LoadUint64(word(cell, r))
	}
	return n
}

// Load returns the sum of the counter's words. Concurrent adds may or may
// not be included; a Load concurrent with Reset may return the total from
// just before the Reset. It reads one word per slot and the overflow word.
func (c *Counter) Load() int64 {
	if p := atomic.LoadPointer(&c.h.cell); p != nil {
		return int64(sumCell(p))
	}
	return 0
}

// Reset sets the counter to zero and returns the total it had. It is exact
// under concurrent adds: every Add is counted either in the returned total
// or in the counter afterwards. It moves the counter to a fresh cell, then
// runs an rseq fence (rseqop.Fence: membarrier
// MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, or a stop of the world should
// membarrier fail after start-up): once the fence returns, no critical
// section that could still see the old cell can commit, so its sum is
// final, and the old cell goes back to the arena. It allocates nothing once
// the arena has free cells. ResetAll resets many counters with one fence.
func (c *Counter) Reset() int64 {
	if !counterRseq {
		return int64(swapCellWords(atomic.LoadPointer(&c.h.cell)))
	}
	old := c.h.swapFresh()
	if old == nil {
		return 0
	}
	rseqop.Fence()
	n := sumCell(old)
	freeCell(old)
	return int64(n)
}

// ResetAll resets every counter of cs as Reset does and stores the totals
// they had in totals[i] (len(totals) must be at least len(cs)), with one
// rseq fence for all of them: the form to use when a scrape resets many
// counters.
func ResetAll(cs []*Counter, totals []int64) {
	if len(totals) < len(cs) {
		panic("percpu: ResetAll: fewer totals than counters")
	}
	if !counterRseq {
		for i, c := range cs {
			totals[i] = int64(swapCellWords(atomic.LoadPointer(&c.h.cell)))
		}
		return
	}
	old := make([]unsafe.Pointer, len(cs))
	for i, c := range cs {
		old[i] = c.h.swapFresh()
	}
	rseqop.Fence()
	for i, p := range old {
		totals[i] = 0
		if p != nil {
			totals[i] = int64(sumCell(p))
			freeCell(p)
		}
	}
}

// swapCellWords swaps every word of cell to 0 and returns their sum: the
// reset of the fallback, where every update of the words is atomic.
func swapCellWords(cell unsafe.Pointer) (n uint64) {
	if cell != nil {
		for r := range arenaRegions() {
			n += atomic.SwapUint64(word(cell, r), 0)
		}
	}
	return n
}

// swapFresh moves the handle to a fresh cell with the same owner and
// returns the old cell (nil if it had none: nothing to count). Concurrent
// Resets each move it once and each count the cell they moved it from.
func (h *cellHandle) swapFresh() unsafe.Pointer {
	for {
		p := atomic.LoadPointer(&h.cell)
		if p == nil {
			return nil
		}
		fresh := moveCell(p)
		if atomic.CompareAndSwapPointer(&h.cell, p, fresh) {
			return p
		}
		freeCell(fresh) // another Reset moved it first: move it again
	}
}

// PerSlot returns the value of every slot, indexed by Status().Index (the
// CPU number or the mm_cid), and the overflow word that threads without a
// usable rseq area add to. For diagnostics: the values are read one by one.
func (c *Counter) PerSlot() (slots []int64, overflow int64) {
	slots = make([]int64, arenaSlots)
	if p := atomic.LoadPointer(&c.h.cell); p != nil {
		for i := range slots {
			slots[i] = int64(atomic.LoadUint64(word(p, i)))
		}
		overflow = int64(atomic.LoadUint64(overflowWord(p)))
	}
	return slots, overflow
}

// String returns the total (Load) in decimal. It makes a *Counter an
// expvar.Var, so expvar.Publish("requests", &c) serves the total in
// /debug/vars, and a fmt.Stringer, so fmt prints the total.
// (percpu does not import expvar, which would register an HTTP handler in
// every program; example_counter_test.go asserts the expvar.Var interface.)
func (c *Counter) String() string { return strconv.FormatInt(c.Load(), 10) }

var _ fmt.Stringer = (*Counter)(nil)

package percpu

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// Counter is a per-CPU int64 counter: Add updates the slot of the CPU (or,
// on Linux 6.3+, of the concurrency ID) the calling thread runs on, with a
// plain load, add and store inside an rseq critical section, so concurrent
// adders on different CPUs never share a cache line and need no atomic
// instruction. Load sums the slots.
//
// The zero value is ready to use; the slots are allocated by the first Add.
// A Counter must not be copied after first use.
//
// Memory ordering: Add is not a synchronising operation. Load observes every
// Add that happened before it (in the sense of the Go memory model) and may
// or may not observe concurrent ones. Reset is exact: each Add is counted
// either in the total Reset returns or in the counter afterwards, never in
// both and never lost.
//
// Where rseq is unavailable (see Status) or rseq fences are not (Linux <
// 5.10, needed by Reset), Add falls back to an atomic add on a slot chosen
// by the current P, which is still sharded and correct.
type Counter struct {
	// base points at the first 64-byte slot of the current slot array. The
	// critical section loads it inside the section, so Reset can swap in a
	// fresh array and fence out every section still using the old one.
	// It must stay the first field: counterAddSlow turns &c.base back
	// into c.
	base unsafe.Pointer
	// overflow takes the adds of threads that cannot use the per-CPU slots
	// (registration failed, index out of range): atomic adds only, never
	// touched by a critical section.
	overflow paddedInt64
	mu       sync.Mutex // serialises Reset and the lazy allocation
}

// counterSlotSize is the stride between slots: one cache line each.
const counterSlotSize = 64

type paddedInt64 struct {
	v atomic.Int64
	_ [counterSlotSize - 8]byte
}

// counterRseq is true when Counter uses critical sections: the fast path
// works and Reset can fence (membarrier PRIVATE_EXPEDITED_RSEQ). Set with
// proc, in mode.go's init.
var counterRseq bool

// Add adds delta to the counter. It inlines into the caller: one call of
// the generated hot op counterAdd, whose critical section adds to this
// CPU's slot, and which jumps to counterAddSlow for everything else (first
// use, a thread without rseq, no critical sections).
func (c *Counter) Add(delta int64) {
	counterAdd(unsafe.Pointer(&c.base), delta)
}

// Inc adds 1 to the counter.
func (c *Counter) Inc() { c.Add(1) }

// Dec subtracts 1 from the counter.
func (c *Counter) Dec() { c.Add(-1) }

// addSlow allocates the slots on first use and runs the add again through
// opLoadAddLoadLoadAddStore, which registers the calling thread if it has no
// rseq area yet; otherwise it falls back. It is counterAdd's slow path
// (through counterAddSlow).
func (c *Counter) addSlow(delta int64) {
	c.slots()
	if counterRseq {
		if _, st := opLoadAddLoadLoadAddStore(unsafe.Pointer(&c.base), counterSlotSize, uintptr(proc.slots), delta); st == zopStatusOK {
			return
		}
		// A stray thread or an index beyond the slots: the critical
		// sections of other threads update the slots non-atomically, so
		// this add must stay out of them.
		c.overflow.v.Add(delta)
		return
	}
	c.addAtomic(delta)
}

// addAtomic is the fallback: an atomic add on the slot of the current P.
// Every update of the slots is atomic in this mode.
func (c *Counter) addAtomic(delta int64) {
	slotAt(c.slots(), shardHint()%proc.slots).Add(delta)
}

// slots returns the current slot array, allocating it on first use.
func (c *Counter) slots() unsafe.Pointer {
	if p := atomic.LoadPointer(&c.base); p != nil {
		return p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base == nil {
		atomic.StorePointer(&c.base, newCounterSlots())
	}
	return c.base
}

// newCounterSlots allocates proc.slots zeroed slots, 64-byte aligned. The
// returned interior pointer keeps the whole allocation alive.
func newCounterSlots() unsafe.Pointer {
	buf := make([]paddedInt64, proc.slots+1)
	p := unsafe.Pointer(&buf[0])
	if off := uintptr(p) % counterSlotSize; off != 0 {
		p = unsafe.Add(p, counterSlotSize-off)
	}
	return p
}

func slotAt(p unsafe.Pointer, i int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Add(p, uintptr(i)*counterSlotSize))
}

// Load returns the sum of all slots. Concurrent adds may or may not be
// included; a Load concurrent with Reset may return the total from just
// before the Reset.
func (c *Counter) Load() int64 {
	sum := c.overflow.v.Load()
	if p := atomic.LoadPointer(&c.base); p != nil {
		for i := 0; i < proc.slots; i++ {
			sum += slotAt(p, i).Load()
		}
	}
	return sum
}

// Reset sets the counter to zero and returns the total it had. It is exact
// under concurrent adds: every Add is counted either in the returned total
// or in the counter afterwards. With critical sections it swaps in a fresh
// slot array and then runs an rseq fence (rseqop.Fence: membarrier
// MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, or a stop of the world should
// membarrier fail after start-up): once the fence returns, no critical
// section that could still see the old array can commit, so the old
// array's sum is final. It allocates one slot array per call.
func (c *Counter) Reset() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.base
	if old == nil {
		return c.overflow.v.Swap(0)
	}
	var sum int64
	if counterRseq {
		atomic.StorePointer(&c.base, newCounterSlots())
		// Never fails: where membarrier stops working after start-up,
		// the fence stops the world instead (rseqop.Fence).
		rseqop.Fence()
		for i := 0; i < proc.slots; i++ {
			sum += slotAt(old, i).Load()
		}
	} else {
		for i := 0; i < proc.slots; i++ {
			sum += slotAt(old, i).Swap(0)
		}
	}
	return sum + c.overflow.v.Swap(0)
}

// PerSlot returns the value of every slot, indexed by Status().Index (the
// CPU number or the mm_cid), and the overflow slot that threads without a
// usable rseq area add to. For diagnostics: the values are read one by one.
func (c *Counter) PerSlot() (slots []int64, overflow int64) {
	slots = make([]int64, proc.slots)
	if p := atomic.LoadPointer(&c.base); p != nil {
		for i := range slots {
			slots[i] = slotAt(p, i).Load()
		}
	}
	return slots, c.overflow.v.Load()
}

// String returns the total (Load) in decimal. It makes a *Counter an
// expvar.Var, so expvar.Publish("requests", &c) serves the total in
// /debug/vars, and a fmt.Stringer, so fmt prints the total.
// (percpu does not import expvar, which would register an HTTP handler in
// every program; example_counter_test.go asserts the expvar.Var interface.)
func (c *Counter) String() string { return strconv.FormatInt(c.Load(), 10) }

var _ fmt.Stringer = (*Counter)(nil)

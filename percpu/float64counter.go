package percpu

import (
	"math"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// Float64Counter is a per-CPU float64 counter, the float form of Counter:
// same arena (8 bytes per slot plus an overflow word, packed), same zero
// value, same exact Reset. Add is one critical section that adds in
// floating point (amd64 ADDSD, arm64 FADD) to this CPU's word.
//
// Sums are rounded as float64 arithmetic rounds them, and the order of the
// additions differs from any single thread's: each CPU's word accumulates
// its own adds, and Load adds the words up. Values that are integers (or
// multiples of a power of two) sum exactly as long as every partial sum fits
// in 53 bits of mantissa; other values may differ from a sequential sum by a
// few units in the last place, as with any sharded float counter.
//
// A Float64Counter must not be copied after first use.
type Float64Counter struct {
	_ noCopy
	h cellHandle // first word: float64Add's base
}

// Add adds v to the counter. It inlines into the caller: one call of the
// generated hot op float64Add, whose critical section adds to this CPU's
// word, and which jumps to float64AddSlow for everything else.
func (c *Float64Counter) Add(v float64) {
	float64Add(unsafe.Pointer(&c.h.cell), v)
}

// Inc adds 1 to the counter.
func (c *Float64Counter) Inc() { c.Add(1) }

// addSlow takes the counter's cell on first use and adds through
// opLoadLoadFAddStore; where the words cannot take a critical section it
// adds with a compare-and-swap loop (the fallback words, or the overflow
// word).
func (c *Float64Counter) addSlow(v float64) {
	cell := c.h.load()
	if !counterRseq {
		addFloatWord(word(cell, shardHint()%arenaSlots), v)
		return
	}
	if _, st := opLoadLoadFAddStore(unsafe.Pointer(&c.h.cell), arenaRegion, uintptr(proc.slots), v); st == zopStatusOK {
		return
	}
	addFloatWord(overflowWord(cell), v) // a stray thread or an index beyond the slots
}

// addFloatWord adds v to the float64 at w with a compare-and-swap loop.
func addFloatWord(w *uint64, v float64) {
	for {
		old := atomic.LoadUint64(w)
		if atomic.CompareAndSwapUint64(w, old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// sumFloatCell returns the sum of cell's float64 words.
func sumFloatCell(cell unsafe.Pointer) (f float64) {
	for r := range arenaRegions() {
		f += math.Float64frombits(atomic.LoadUint64(word(cell, r)))
	}
	return f
}

// Load returns the sum of the counter's words. Concurrent adds may or may
// not be included.
func (c *Float64Counter) Load() float64 {
	if p := atomic.LoadPointer(&c.h.cell); p != nil {
		return sumFloatCell(p)
	}
	return 0
}

// Reset sets the counter to zero and returns the total it had, exactly as
// Counter.Reset does: every Add is counted either in the returned total or
// in the counter afterwards.
func (c *Float64Counter) Reset() float64 {
	if !counterRseq {
		var f float64
		if p := atomic.LoadPointer(&c.h.cell); p != nil {
			for r := range arenaRegions() {
				f += math.Float64frombits(atomic.SwapUint64(word(p, r), 0))
			}
		}
		return f
	}
	old := c.h.swapFresh()
	if old == nil {
		return 0
	}
	rseqop.Fence()
	f := sumFloatCell(old)
	freeCell(old)
	return f
}

// String returns the total (Load) formatted as strconv.FormatFloat(f, 'g',
// -1, 64). It makes a *Float64Counter an expvar.Var.
func (c *Float64Counter) String() string { return strconv.FormatFloat(c.Load(), 'g', -1, 64) }

// Package percpumax is an example of a per-CPU operation defined outside
// gorseq: a running maximum of uint64 values kept per CPU, updated by one
// restartable sequence (load, compare, store if greater) that gorseq's
// generator writes from the description in internal/genops.
//
// It shows the whole path a module of its own takes: describe the op with
// gen/ir, generate it with go generate (zops_*), call it with the status
// protocol, fall back where rseq cannot run, and test it under migration
// and signal storms with the abort path proven to run (rseqop.Aborts).
package percpumax

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// slotStride is the distance between two CPUs' words: one cache line each.
const slotStride = 64

// Max is a running maximum of uint64 values, updated per CPU. The zero
// value is ready to use (the maximum of nothing is 0). Update is a plain
// load and, when the value is greater, a plain store on this CPU's word,
// with no atomic read-modify-write; Load combines the words.
type Max struct {
	once  sync.Once
	words []uint64 // slotStride bytes per slot
	// overflow takes the updates that cannot run as a critical section:
	// no rseq in the process, a thread whose registration belongs to
	// someone else, an index beyond the slots. Critical sections store to
	// the per-CPU words without atomics, so those updates must stay out of
	// them.
	overflow atomic.Uint64
}

// slots is the number of per-CPU words, decided once.
var slots = uintptr(max(rseqop.Status().Slots, 1))

func (m *Max) init() {
	m.once.Do(func() { m.words = make([]uint64, slots*slotStride/8) })
}

// Update raises the maximum to v if v is greater.
func (m *Max) Update(v uint64) { m.update(v) }

// update is Update; it returns the slot the value went to, or -1 for the
// overflow word (the tests check every slot against what went there).
func (m *Max) update(v uint64) int {
	m.init()
	if zopHaveAsm { // 64-bit platforms with the critical section: uintptr holds v
		// opLoadMaxStore (generated) registers this thread and retries
		// when it has no rseq area yet.
		idx, st := opLoadMaxStore(unsafe.Pointer(&m.words[0]), slotStride, slots, uintptr(v))
		if st == zopStatusOK || st == 1 { // stored, or the word already holds v or more
			return int(idx)
		}
		// No rseq here, a thread that cannot use it, or an index beyond
		// the slots.
	}
	for {
		old := m.overflow.Load()
		if v <= old || m.overflow.CompareAndSwap(old, v) {
			return -1
		}
	}
}

// Load returns the maximum of every value passed to Update so far. With
// Updates running concurrently it returns a value at least as large as
// the maximum of those that returned before Load began.
func (m *Max) Load() uint64 {
	m.init()
	r := m.overflow.Load()
	for i := uintptr(0); i < slots; i++ {
		r = max(r, atomic.LoadUint64(&m.words[i*slotStride/8]))
	}
	return r
}

// FastPath reports whether Update runs as a critical section in this
// process, or why not.
func FastPath() (bool, error) { return zopErr == nil, zopErr }

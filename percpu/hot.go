package percpu

import "unsafe"

// Package variables the generated hot ops read (DESIGN.md, "Hot ops"). A
// hot op is one asm function per library operation (counterAdd,
// float64Add, poolGet, poolPut, shardLock) whose Go caller is small enough
// to inline into user code (Sharded.Update, which defers its release, is not): it
// takes only the arguments the caller cannot avoid passing, reads the rest
// from here, and leaves every failure by a tail jump into its Go slow path
// (counterAddSlow, float64AddSlow, poolGetSlow, poolPutSlow here, shardLockSlow in
// sharded.go, which have the asm function's exact frame and return to the
// caller in its place). All are set once by
// setHotGlobals during package initialisation, before any op runs; the
// index field's offset (zopIndexOffset) and the thread word offsets are the
// generated glue's (zops_table.go), set by rseqop.Register.
var (
	// counterSlots is the number of slots of the counters when they use
	// critical sections (counterRseq), else 0: counterAdd and float64Add
	// then send every call to their slow paths before arming a descriptor.
	counterSlots uintptr
	// poolSlots is the number of per-CPU Pool caches when the fast path is
	// on, else 0.
	poolSlots uintptr
	// shardedSlots is the number of per-CPU shards of a Sharded when new
	// Shardeds get them (shardedRseq), else 0.
	shardedSlots uintptr
)

// setHotGlobals enables the hot ops for what decide found.
func setHotGlobals(p *process) {
	counterSlots, poolSlots, shardedSlots = 0, 0, 0
	if counterRseq {
		counterSlots = uintptr(p.slots)
	}
	if p.fastPath {
		poolSlots = uintptr(p.slots)
	}
	if p.fastPath && p.fenceErr == nil { // shardedRseq
		shardedSlots = uintptr(p.slots)
	}
}

// counterAddSlow is counterAdd's slow path (same frame): base is the
// Counter's first field, so it is the Counter.
//
//lint:ignore U1000 the tail jump target of the generated hot op (zops_*.s), which staticcheck cannot see
func counterAddSlow(base unsafe.Pointer, delta int64) {
	(*Counter)(base).addSlow(delta)
}

// float64AddSlow is float64Add's slow path (same frame): base is the
// Float64Counter's first word, so it is the Float64Counter.
//
//lint:ignore U1000 the tail jump target of the generated hot op (zops_*.s), which staticcheck cannot see
func float64AddSlow(base unsafe.Pointer, delta float64) {
	(*Float64Counter)(base).addSlow(delta)
}

// poolAny stands for a Pool's element type in the type-erased slow paths.
// Pool[T] and poolState[T] only ever hold *T, so their layout, and the
// calling convention of New (a func returning one pointer), are the same
// for every T: the slow paths view the Pool[T] behind state as a
// Pool[poolAny].
type poolAny struct{}

// poolOf returns the Pool whose state field is at state.
func poolOf(state unsafe.Pointer) *Pool[poolAny] {
	return (*Pool[poolAny])(unsafe.Add(state, -int(unsafe.Offsetof((*Pool[poolAny])(nil).state))))
}

// poolGetSlow is poolGet's slow path (same frame): Get when this CPU's cache
// could not serve it (empty, collector marking, thread without rseq, first
// use, a hole, no fast path). It returns nil only when the pool is empty and
// New is nil or returned nil.
//
//lint:ignore U1000 the tail jump target of the generated hot op (zops_*.s), which staticcheck cannot see
func poolGetSlow(state unsafe.Pointer) unsafe.Pointer {
	return unsafe.Pointer(poolOf(state).getSlow())
}

// poolPutSlow is poolPut's slow path (same frame).
//
//lint:ignore U1000 the tail jump target of the generated hot op (zops_*.s), which staticcheck cannot see
func poolPutSlow(state unsafe.Pointer, x unsafe.Pointer) {
	poolOf(state).putSlow((*poolAny)(x))
}

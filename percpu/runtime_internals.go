package percpu

import "unsafe"

// This file gathers what percpu takes from the Go runtime beyond its public
// API (as Go's own sync/runtime.go does for package sync), with the checks
// that turn the fast path off on a Go release that changed it:
//
//   - runtime.procPin/procUnpin (linkname): the P id, for shard choices and
//     the per-P levels of the fallbacks.
//   - runtime.writeBarrier (linkname): the flag the pool's ops read through
//     writeBarrierFlag: PoolPush (a parameter) and PoolPut before their
//     barrier-free pointer store, PoolGet before its clear (checked by
//     TestWriteBarrierFlag).
//
// rseqop's runtime_internals.go has what thread registration takes (g.m,
// m.tls).

//go:linkname runtime_procPin runtime.procPin
func runtime_procPin() int

//go:linkname runtime_procUnpin runtime.procUnpin
func runtime_procUnpin()

// shardHint returns the id of the P the calling goroutine runs on: a cheap,
// well-spread shard choice for the fallbacks (sync.Pool shards the same
// way). The goroutine may move right after; callers must stay correct under
// any value (they use atomics or locks).
func shardHint() int {
	id := runtime_procPin()
	runtime_procUnpin()
	return id
}

// runtimeWriteBarrier is the Go runtime's write barrier flag. Its first
// field (32 bits read) is non-zero while the garbage collector is marking,
// when compiled code calls the write barrier before every pointer store.
// The runtime keeps the variable and its layout for linkname users (see its
// declaration in runtime/mgc.go and go.dev/issue/67401).
//
//go:linkname runtimeWriteBarrier runtime.writeBarrier
var runtimeWriteBarrier struct {
	enabled bool
	pad     [3]byte
	alignme uint64
}

// writeBarrierFlag is the address of the flag the pool's ops read (gen/ops:
// PoolPush's wb parameter, and the global PoolGet and PoolPut read through
// WriteBarrierGlobal): they store or clear a pointer only while the flag is
// 0 (PoolPut: or when the entry already holds x), and the flag cannot change
// before the op returns, because the runtime flips it with the world
// stopped and an assembly function has no safe point.
var writeBarrierFlag = unsafe.Pointer(&runtimeWriteBarrier)

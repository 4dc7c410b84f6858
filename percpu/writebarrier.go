package percpu

import "unsafe"

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

// writeBarrierFlag is the address the generated PoolPut op reads before its
// pointer store (FailIfWriteBarrier in gen/ops): the op stores only while
// the flag is 0, and the flag cannot change before the op returns, because
// the runtime flips it with the world stopped and an assembly function has
// no safe point.
var writeBarrierFlag = unsafe.Pointer(&runtimeWriteBarrier)

// Package fencetest holds a long critical section for rseqop's fence tests:
// librseq's memcpy publish (gen/ops.LoadCbneMemcpyStore: if the slot word
// equals expect, copy n bytes, then commit newv to the slot word), whose
// byte copy keeps a section in flight for as long as n asks. A section that
// compared the word before a remote writer changed it and commits after
// the writer's fence returned would break rseqop.Fence's guarantee; with
// short sections that window is a few nanoseconds, with this one it is
// microseconds, so the tests see it whenever the fence is missing.
package fencetest

//go:generate go -C ../../../gen run ./cmd/genfencetest -dir ../rseqop/internal/fencetest

import (
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
)

// Status values of the op (zops_table.go).
const (
	OK           = zopStatusOK
	Unregistered = zopStatusUnregistered
)

// Claim runs the section on the calling thread's slot (cpu_id or mm_cid,
// as rseqop.Status().Index says): if the word at base + idx*stride is 0,
// copy n bytes from src to the slot + 64, then store 1 there. It returns
// the slot index and the status (0 committed; 1 the word was not 0; -1 no
// usable area even after registering this thread; -2 index out of range).
func Claim(base unsafe.Pointer, stride, limit uintptr, src unsafe.Pointer, n uintptr) (idx uintptr, status int) {
	return opLoadCbneMemcpyStore(base, stride, limit, 0, 64, src, n, 1)
}

// Aborts returns how often the section restarted.
func Aborts() uint64 {
	n, _ := rseqop.Aborts(zopPackage, "LoadCbneMemcpyStore")
	return n
}

// Err says why the section never runs (rseq unavailable, validation), or nil.
func Err() error { return zopErr }

package rseqop

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/gorseq/rseq/internal/arch"
)

// This file gathers what rseqop takes from the Go runtime beyond its public
// API (as Go's own sync/runtime.go does for package sync), with the checks
// that turn the fast path off on a Go release that changed it (percpu's
// runtime_internals.go has what the data structures take):
//
//   - g.m at offset gMOffset in runtime.g: the owner of a self-mode record
//     (arm64 prologue, internal/arch.GMOffset), checked by selfCheckRuntime.
//   - m.tls (amd64 without cgo): FS points at &m.tls[1], a word Go leaves
//     unused, which holds the thread's area, and g sits at FS:-8; checked by
//     selfCheckRuntime. The assembly that reads them (getg, the thread word,
//     readThreadWordMinus8) is in threadword_{amd64,arm64}.s, declared in
//     threadword_asm.go.

// gMOffset is the offset of the m field in the runtime's g structure
// (internal/arch.GMOffset, which the generator's arm64 prologue reads too).
// Checked at init.
const gMOffset = arch.GMOffset

// currentM returns the calling goroutine's M (g.m).
func currentM() unsafe.Pointer {
	g := getg()
	if g == nil {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Add(g, gMOffset))
}

// selfCheckRuntime checks the runtime internals ModeSelf relies on, so that
// a Go release that changed them disables the fast path instead of
// corrupting memory.
func selfCheckRuntime() error {
	g := getg()
	if g == nil {
		return errors.New("cannot read g")
	}
	if runtime.GOARCH == "amd64" && readThreadWordMinus8() != uintptr(g) {
		return fmt.Errorf("FS:-8 = %#x, want g = %p: FS is not &m.tls[1]", readThreadWordMinus8(), g)
	}
	m := currentM()
	if m == nil {
		return errors.New("g.m is nil")
	}
	g0 := *(*unsafe.Pointer)(m) // m.g0 is m's first field
	if g0 == nil || g0 == g || *(*unsafe.Pointer)(unsafe.Add(g0, gMOffset)) != m {
		return fmt.Errorf("g.m at offset %d does not lead back through m.g0 (g %p m %p g0 %p)", gMOffset, g, m, g0)
	}
	if w := readThreadWord(); w != 0 {
		return fmt.Errorf("thread word is %#x before any registration: something else uses it", w)
	}
	return nil
}

package rseqop

import (
	"errors"
	"runtime"
	"sync/atomic"

	"github.com/gorseq/rseq/rseqabi"
)

// Errors of thread registration.
var (
	// ErrUnavailable: the process runs in ModeNone; Status().Reason says why.
	ErrUnavailable = errors.New("rseqop: rseq is unavailable in this process")
	// ErrPinned: Release was called while a Pin on this thread is active;
	// the registration is released by the last Unpin instead.
	ErrPinned = errors.New("rseqop: thread is pinned; registration released at the last Unpin")
)

// SlowPath runs when a generated op reported that the calling thread has
// no usable rseq area (status -1, or a hot op's slow path). It registers
// the calling thread if it can and reports whether the op is worth
// retrying; false sends the caller to its fallback. A package whose own ops
// Register refused must not retry them (its generated zopSlowPath checks
// that before calling SlowPath).
func SlowPath() bool {
	if !proc.fastPath {
		return false
	}
	if owner.knownStray() {
		return false // no system call, no lock
	}
	return registerThisThread()
}

// registerThisThread registers the calling goroutine's current thread if
// needed and reports whether the generated ops can run on it.
func registerThisThread() bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, err := registerThread()
	return err == nil && proc.fastPath
}

// Thread is a pinned OS thread, returned by Pin. Its methods must be called
// from the goroutine that pinned it, before Unpin.
type Thread struct {
	st  *threadState
	err error
}

// Pin locks the calling goroutine to its OS thread (runtime.LockOSThread),
// makes sure the thread has a registered rseq area and takes a reference on
// the registration. Pins nest; each must be undone by Unpin. Pin never fails:
// where rseq is unavailable the Thread reports Err and reads its CPU with a
// system call.
func Pin() Thread {
	runtime.LockOSThread()
	st, err := registerThread()
	if st != nil {
		threads.Lock()
		st.pins++
		threads.Unlock()
	}
	return Thread{st: st, err: err}
}

// Unpin drops the reference Pin took and unlocks the goroutine from its
// thread. The registration stays (see Release).
func (t Thread) Unpin() {
	if t.st != nil {
		threads.Lock()
		t.st.pins--
		if t.st.refs() == 0 && t.st.err == nil {
			releaseLocked(t.st)
		}
		threads.Unlock()
	}
	runtime.UnlockOSThread()
}

// Err reports why the thread has no usable rseq area, or nil.
func (t Thread) Err() error { return t.err }

// Area returns the thread's rseq area, or nil. The kernel updates it; read
// its fields with care (they change whenever the thread is scheduled).
func (t Thread) Area() *rseqabi.Area {
	if t.st == nil || t.err != nil {
		return nil
	}
	return t.st.area
}

// CPU returns the CPU the thread runs on now.
func (t Thread) CPU() int {
	if a := t.Area(); a != nil {
		return int(int32(loadUint32(&a.CPUID)))
	}
	cpu, _ := getcpu()
	return cpu
}

// NodeID returns the NUMA node the thread runs on now.
func (t Thread) NodeID() int {
	if a := t.Area(); a != nil && proc.features.HasNodeID() {
		return int(loadUint32(&a.NodeID))
	}
	_, node := getcpu()
	return node
}

// MMCID returns the thread's concurrency ID within the process (Linux 6.3+),
// or -1 where the kernel does not provide it.
func (t Thread) MMCID() int {
	if a := t.Area(); a != nil && proc.features.HasMMCID() {
		return int(loadUint32(&a.MMCID))
	}
	return -1
}

// Release gives up the library's registration of the calling thread. It
// never unregisters what the library does not own: in ModeLibc it only
// forgets the thread; in ModeShared it drops the library's reference on the
// shared __rseq_abi (the area is unregistered only if that was the last
// reference, C libraries' included); in ModeSelf it unregisters the
// library's own area. If the thread is pinned, the release happens at the
// last Unpin and ErrPinned is returned. A later per-CPU operation on the
// thread registers it again.
func Release() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := gettid()
	threads.Lock()
	defer threads.Unlock()
	st := threads.byTID[tid]
	if st == nil || !owner.current(st) {
		return nil
	}
	if st.err != nil && st.pins == 0 {
		return releaseLocked(st) // stray: a later op checks the thread again
	}
	if !st.persistent {
		return nil
	}
	st.persistent = false
	if st.pins > 0 {
		return ErrPinned
	}
	return releaseLocked(st)
}

func loadUint32(p *uint32) uint32 { return atomic.LoadUint32(p) }

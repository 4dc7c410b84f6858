package percpu

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
)

// Errors of thread registration.
var (
	// ErrUnavailable: the process runs in ModeNone; Status().Reason says why.
	ErrUnavailable = errors.New("percpu: rseq is unavailable in this process")
	// ErrPinned: Release was called while a Pin on this thread is active;
	// the registration is released by the last Unpin instead.
	ErrPinned = errors.New("percpu: thread is pinned; registration released at the last Unpin")
)

// threadState is the library's bookkeeping for one OS thread that has run
// the slow path. It lives in threads.byTID until the thread is released or
// found dead.
type threadState struct {
	tid  int
	area *rseqabi.Area // the thread's area (nil if registration failed)
	// rec is the self-mode record (area at +0, owner M at +32), or nil.
	rec unsafe.Pointer
	// owner keeps the M that owns rec reachable, so that its address is
	// never reused by another M while a thread that inherited the thread
	// word (arm64) could compare against it.
	owner      unsafe.Pointer
	pins       int   // active Pins on this thread
	persistent bool  // the library's own reference (held from first registration until Release)
	err        error // why registration failed on this thread ("stray" thread), or nil
}

// refs is the number of references the library holds on the registration.
func (st *threadState) refs() int {
	n := st.pins
	if st.persistent {
		n++
	}
	return n
}

// current reports whether st still describes the calling thread (a dead
// thread's id may be reused by a new thread).
func (st *threadState) current() bool {
	switch proc.mode {
	case ModeSelf:
		if st.rec == nil {
			return st.err != nil
		}
		return haveAsm && currentArea() == st.rec
	case ModeShared:
		return st.area == (*rseqabi.Area)(libc.LegacyArea()) && (st.err != nil || libc.LegacyRefcount() > 0)
	case ModeLibc:
		return st.area == (*rseqabi.Area)(currentArea())
	}
	return true
}

var threads struct {
	sync.Mutex
	byTID    map[int]*threadState
	nextScan int              // reclaim dead threads' states when byTID reaches this size
	free     []unsafe.Pointer // self-mode records ready for reuse
	chunks   [][]byte         // self-mode record memory (never unmapped)
}

// registerThread makes sure the calling thread has a usable area, registering
// one according to the process mode. The caller must hold the goroutine on
// its thread (runtime.LockOSThread). A thread whose registration failed is
// remembered as stray: the error is returned again without a new syscall.
func registerThread() (*threadState, error) {
	tid := gettid()
	threads.Lock()
	defer threads.Unlock()
	if threads.byTID == nil {
		threads.byTID = make(map[int]*threadState)
		threads.nextScan = 64
	}
	if st := threads.byTID[tid]; st != nil {
		if st.current() {
			return st, st.err
		}
		forgetLocked(st) // a dead thread's state under a reused id
	}
	if proc.mode == ModeNone {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, proc.reason)
	}
	st := &threadState{tid: tid}
	switch proc.mode {
	case ModeLibc:
		st.area = (*rseqabi.Area)(currentArea())
		if st.area == nil || int32(st.area.CPUID) < 0 {
			st.err = fmt.Errorf("percpu: glibc did not register rseq on thread %d", tid)
		}
	case ModeShared:
		st.area = (*rseqabi.Area)(libc.LegacyArea())
		if err := libc.LegacyRegister(proc.regLen, rseqabi.Signature); err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				err = &rseqabi.Error{Op: "register", Errno: errno}
			}
			st.err = fmt.Errorf("percpu: legacy rseq registration of thread %d: %w", tid, err)
		} else {
			st.persistent = true
		}
	case ModeSelf:
		st.err = registerSelfLocked(st)
	}
	if len(threads.byTID) >= threads.nextScan {
		reclaimDeadLocked()
	}
	threads.byTID[tid] = st
	return st, st.err
}

// registerSelfLocked registers a fresh record for the calling thread and
// publishes it in the thread word.
func registerSelfLocked(st *threadState) error {
	rec := allocRecordLocked()
	area := (*rseqabi.Area)(rec)
	if err := rseqabi.Register(rec, proc.regLen, rseqabi.Signature); err != nil {
		// A stray thread: publish the record anyway, marked failed, so the
		// ops' prologue sends this thread to its fallback without a syscall.
		area.CPUID = rseqabi.CPUIDRegistrationFailed
		err = fmt.Errorf("percpu: rseq registration of thread %d: %w", st.tid, err)
		st.err = err
	} else {
		st.area = area
		st.persistent = true
	}
	st.rec = rec
	st.owner = currentM()
	*(*unsafe.Pointer)(unsafe.Add(rec, selfRecordOwnerOffset)) = st.owner
	writeThreadWord(rec)
	return st.err
}

// recordSize is one self-mode record: a 32-byte area and the owner word on a
// cache line of their own (two areas on one line halved throughput).
const recordSize = 64

func allocRecordLocked() unsafe.Pointer {
	if len(threads.free) == 0 {
		reclaimDeadLocked()
	}
	if len(threads.free) == 0 {
		const chunk = 64 << 10
		mem, err := mmapAnon(chunk)
		if err != nil {
			panic(fmt.Sprintf("percpu: mmap for rseq areas: %v", err))
		}
		threads.chunks = append(threads.chunks, mem)
		for off := chunk - recordSize; off >= 0; off -= recordSize {
			threads.free = append(threads.free, unsafe.Pointer(&mem[off]))
		}
	}
	rec := threads.free[len(threads.free)-1]
	threads.free = threads.free[:len(threads.free)-1]
	clear(unsafe.Slice((*byte)(rec), recordSize))
	(*rseqabi.Area)(rec).CPUID = rseqabi.CPUIDUninitialized
	return rec
}

// freeRecordLocked returns rec for reuse. Its thread is dead or has
// unregistered it, so the kernel no longer writes it; clearing the owner
// keeps threads that inherited the address (arm64) away from it.
func freeRecordLocked(rec unsafe.Pointer) {
	*(*unsafe.Pointer)(unsafe.Add(rec, selfRecordOwnerOffset)) = nil
	(*rseqabi.Area)(rec).CPUID = rseqabi.CPUIDUninitialized
	threads.free = append(threads.free, rec)
}

func forgetLocked(st *threadState) {
	delete(threads.byTID, st.tid)
	if st.rec != nil {
		freeRecordLocked(st.rec)
		st.rec = nil
	}
}

// reclaimDeadLocked forgets the states of threads that have exited (a
// goroutine that exits while locked takes its thread with it).
func reclaimDeadLocked() {
	for tid, st := range threads.byTID {
		if threadExited(tid) {
			forgetLocked(st)
		}
	}
	threads.nextScan = max(64, 2*len(threads.byTID))
}

// slowPath runs when a generated op returned statusUnregistered. It
// registers the calling thread if it can and reports whether the op is worth
// retrying; false sends the caller to its fallback.
func slowPath() bool {
	if !proc.fastPath {
		return false
	}
	if a := (*rseqabi.Area)(currentArea()); a != nil && a.CPUID == rseqabi.CPUIDRegistrationFailed {
		return false // known stray thread: no syscall
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
			unregisterLocked(t.st)
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
	if st == nil || !st.current() || !st.persistent {
		return nil
	}
	st.persistent = false
	if st.pins > 0 {
		return ErrPinned
	}
	return unregisterLocked(st)
}

// unregisterLocked undoes the registration of st, which has no references
// left. It runs on st's own thread.
func unregisterLocked(st *threadState) error {
	delete(threads.byTID, st.tid)
	if st.err != nil {
		if st.rec != nil {
			writeThreadWord(nil)
			freeRecordLocked(st.rec)
		}
		return nil
	}
	switch proc.mode {
	case ModeShared:
		return libc.LegacyUnregister(proc.regLen, rseqabi.Signature)
	case ModeSelf:
		writeThreadWord(nil)
		err := rseqabi.Unregister(st.rec, proc.regLen, rseqabi.Signature)
		if err == nil {
			freeRecordLocked(st.rec)
		}
		return err
	}
	return nil
}

func loadUint32(p *uint32) uint32 { return atomic.LoadUint32(p) }

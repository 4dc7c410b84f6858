package rseqop

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
)

// ownership is one Mode's rules for the rseq registration of a thread: who
// registers it, how the library knows a state still describes its thread,
// what the library's reference is and how it is given back. Each mode's
// rules live in one file: ownership_libc.go, ownership_shared.go,
// ownership_self.go. The bookkeeping they share (the table of thread states,
// references, reclaiming dead threads) is below; DESIGN.md ("Ownership
// modes") states the contract.
//
// All methods but setup run with threads locked.
type ownership interface {
	// setup runs once during init on the main thread, before any
	// registration: it checks that the mode can work in this process and
	// sets threadAreaOffset and threadOwnerOffset (DESIGN.md, "Thread
	// word"). An error makes the process ModeNone.
	setup(p *process) error
	// register sets up st for the calling thread, which has no current
	// state. On success st.area is the thread's usable area, and
	// st.persistent says whether the library now holds a reference. On
	// failure the thread is stray: register marks it so that the generated
	// ops send it to its fallback without calling back (knownStray), and
	// returns why.
	register(st *threadState) error
	// current reports whether st, found under the calling thread's id,
	// still describes the calling thread rather than an exited thread whose
	// id the kernel gave again.
	current(st *threadState) bool
	// exited reports whether st's thread has exited. It never reads the
	// thread's memory.
	exited(st *threadState) bool
	// loadCPU returns cpu_id of st's area (st.area != nil); ok is false,
	// and nothing was read, if the thread has exited.
	loadCPU(st *threadState) (cpu int32, ok bool)
	// knownStray reports, without a lock or system call, whether the
	// calling thread is one whose registration the library found unusable.
	knownStray() bool
	// release undoes register on st's own thread once the library holds no
	// reference (or st is stray): the library's reference is dropped and
	// the thread word or ownership word cleared, so that a later op
	// registers again.
	release(st *threadState) error
	// drop frees what st holds after its thread exited (from any thread).
	drop(st *threadState)
}

// exitWatched is what the cgo modes share: the areas lie in the threads'
// TLS, and a libc.ThreadWatch per thread says when it is gone.
type exitWatched struct{}

// loadCPU reads the area only while its thread lives.
func (exitWatched) loadCPU(st *threadState) (int32, bool) {
	v, ok := st.watch.LoadUint32(&st.area.CPUID)
	return int32(v), ok
}

// drop releases the watch: freed now if the thread has exited, else by the
// thread's exit destructor, which still writes to it (a state dropped while
// its thread lives: a failed probe, forgetProbe).
func (exitWatched) drop(st *threadState) { st.watch.Release() }

// areaMarkedStray reports whether the area the calling thread's thread
// word leads to says "registration failed": how the modes whose thread word
// leads to the area (libc, self) mark a stray thread for the ops.
func areaMarkedStray() bool {
	a := (*rseqabi.Area)(currentArea())
	return a != nil && a.CPUID == rseqabi.CPUIDRegistrationFailed
}

// owner holds the rules of proc.mode (nil in ModeNone).
var owner ownership

// ownershipFor returns the rules of mode m.
func ownershipFor(m Mode) ownership {
	switch m {
	case ModeLibc:
		return libcOwnership{}
	case ModeShared:
		return sharedOwnership{}
	case ModeSelf:
		return selfOwnership{}
	}
	return nil
}

// threadState is the library's bookkeeping for one OS thread that has run
// the slow path. It lives in threads.byTID until the thread is released or
// found exited.
type threadState struct {
	tid  int
	area *rseqabi.Area // the thread's area (nil if registration failed)
	// watch tells when the thread exits (cgo modes: a pthread key
	// destructor); the area, in the thread's TLS, is read from other
	// threads only through it.
	watch libc.ThreadWatch
	// rec is the self-mode record (area at +0, owner M at +32), or nil.
	rec unsafe.Pointer
	// owner keeps the M that owns rec reachable, so that its address is
	// never reused by another M while a thread that inherited the thread
	// word (arm64) could compare against it.
	owner      unsafe.Pointer
	pins       int   // active Pins on this thread
	persistent bool  // the library's own reference (held from first registration until Release)
	err        error // why the thread cannot use rseq ("stray" thread), or nil
}

// refs is the number of references the library holds on the registration.
func (st *threadState) refs() int {
	n := st.pins
	if st.persistent {
		n++
	}
	return n
}

var threads struct {
	sync.Mutex
	byTID    map[int]*threadState
	nextScan int              // reclaim exited threads' states when byTID reaches this size
	free     []unsafe.Pointer // self-mode records ready for reuse
	chunks   [][]byte         // self-mode record memory (never unmapped)
}

// registerThread makes sure the calling thread has a usable area, following
// the rules of the process mode. The caller must hold the goroutine on its
// thread (runtime.LockOSThread). A stray thread is remembered: the error is
// returned again without a new system call.
func registerThread() (*threadState, error) {
	tid := gettid()
	threads.Lock()
	defer threads.Unlock()
	if threads.byTID == nil {
		threads.byTID = make(map[int]*threadState)
		threads.nextScan = 64
	}
	if st := threads.byTID[tid]; st != nil {
		if owner.current(st) {
			return st, st.err
		}
		dropLocked(st) // an exited thread's state under a reused id
	}
	if owner == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, proc.reason)
	}
	st := &threadState{tid: tid}
	st.err = owner.register(st)
	if len(threads.byTID) >= threads.nextScan {
		reclaimDeadLocked()
	}
	threads.byTID[tid] = st
	return st, st.err
}

// releaseLocked forgets st, whose thread is the calling one, after the
// library's last reference is gone (or st is stray).
func releaseLocked(st *threadState) error {
	unlistLocked(st)
	return owner.release(st)
}

// dropLocked forgets st, whose thread has exited.
func dropLocked(st *threadState) {
	unlistLocked(st)
	owner.drop(st)
}

// unlistLocked removes st from the table unless a newer state of the same
// id replaced it already.
func unlistLocked(st *threadState) {
	if threads.byTID[st.tid] == st {
		delete(threads.byTID, st.tid)
	}
}

// reclaimDeadLocked forgets the states of threads that have exited (a
// goroutine that exits while locked takes its thread with it).
func reclaimDeadLocked() {
	for _, st := range threads.byTID {
		if owner.exited(st) {
			dropLocked(st)
		}
	}
	threads.nextScan = max(64, 2*len(threads.byTID))
}

// ownedElsewhere reports whether a registration error says that the
// thread's registration belongs to someone else (another area, length or
// signature is registered), rather than that rseq is unavailable.
func ownedElsewhere(err error) bool {
	return errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.EPERM) || errors.Is(err, libc.ErrEarlierFailure)
}

// Values of the ownership word (cgo ModeShared; DESIGN.md): 0 until the
// library has checked the thread, ownerStray when the thread's registration
// is not one the library may use, else the owning M.
const ownerStray = ^uintptr(0)

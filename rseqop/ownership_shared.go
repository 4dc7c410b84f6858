package rseqop

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
)

// sharedOwnership is ModeShared: a cgo build where glibc does not register.
// The library joins the 2020 sharing protocol on the __rseq_abi and
// __rseq_refcount thread-locals (rseqabi/libc defines them weakly, so C
// libraries of that protocol bind to the same pair).
//
//   - register (rseqabi/libc, signals blocked): if __rseq_abi.cpu_id is
//     RSEQ_CPU_ID_UNINITIALIZED, register it; if someone already did, check
//     that the registration is one the library can share: re-registering it
//     with our signature must give EBUSY (EPERM: another signature, whose
//     abort handlers are not ours, the bug of issue 11; EINVAL: another area
//     or length). Then __rseq_refcount++ (the library's one persistent
//     reference). A thread that fails the check is stray.
//   - the gate: a C library may register __rseq_abi on a thread before Go
//     ever runs there, so cpu_id >= 0 does not mean the library may use it.
//     The ops also check the thread's ownership word (rseqabi/libc's
//     gorseq_owner, static TLS at threadOwnerOffset from the thread
//     pointer): 0 until the library checked the thread, then the owning M
//     (usable) or ownerStray. glibc gives every new thread a zeroed copy,
//     also when it reuses a cached stack, so a new thread that got an exited
//     thread's id and TLS address is never taken for it.
//   - references: Pins add to the library's count; the library's last
//     reference drops its one __rseq_refcount reference, and the protocol's
//     last reference (C libraries' included) unregisters.
//   - exit: a pthread key destructor marks the state's watch dead; only
//     then is a state dropped, and no thread ever reads an exited thread's
//     TLS (its stack may be unmapped or reused).
type sharedOwnership struct{ exitWatched }

func (sharedOwnership) setup(p *process) error {
	tp := libc.ThreadPointer()
	if w := readThreadWord(); w != tp {
		return fmt.Errorf("self-check: thread word %#x is not the thread pointer %#x", w, tp)
	}
	area := uintptr(libc.LegacyArea())
	if area%rseqabi.AreaAlign != 0 {
		return fmt.Errorf("__rseq_abi at %#x is not %d-byte aligned", area, rseqabi.AreaAlign)
	}
	threadAreaOffset = area - tp
	off := libc.OwnerWordOffset()
	if off == 0 || off%8 != 0 {
		return fmt.Errorf("self-check: ownership word at thread pointer + %#x", off)
	}
	threadOwnerOffset = off
	const probe = 0x5eed
	libc.SetOwnerWord(probe)
	got := currentOwnerWord()
	libc.SetOwnerWord(0)
	if got != probe {
		return fmt.Errorf("self-check: ownership word read as %#x at thread pointer + %#x, want %#x", got, off, probe)
	}
	return nil
}

func (sharedOwnership) register(st *threadState) error {
	w, err := libc.WatchThread()
	if err != nil {
		libc.SetOwnerWord(ownerStray)
		return fmt.Errorf("rseqop: cannot watch thread %d for its exit: %w", st.tid, err)
	}
	st.watch = w
	if err := libc.LegacyRegister(rseqabi.AreaSize, rseqabi.Signature); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = &rseqabi.Error{Op: "register", Errno: errno}
		}
		libc.SetOwnerWord(ownerStray)
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("rseqop: thread %d's __rseq_abi is registered with another signature than %#x: %w", st.tid, rseqabi.Signature, err)
		}
		return fmt.Errorf("rseqop: legacy rseq registration of thread %d: %w", st.tid, err)
	}
	st.area = (*rseqabi.Area)(libc.LegacyArea())
	st.persistent = true
	libc.SetOwnerWord(uintptr(currentM()))
	return nil
}

// current: thread ids are unique among live threads, and st's watch says
// whether its thread is alive. A usable thread's ownership word is kept
// equal to its M (a C thread that calls into Go may get another M from
// one call to the next on old Go releases; arm64 compares with it).
func (sharedOwnership) current(st *threadState) bool {
	if !st.watch.Valid() { // a stray thread that could not be watched
		return currentOwnerWord() == ownerStray
	}
	if st.watch.Dead() {
		return false
	}
	if m := uintptr(currentM()); st.err == nil && libc.OwnerWord() != m {
		libc.SetOwnerWord(m)
	}
	return true
}

func (sharedOwnership) exited(st *threadState) bool { return st.watch.Valid() && st.watch.Dead() }

func (sharedOwnership) knownStray() bool { return currentOwnerWord() == ownerStray }

func (sharedOwnership) release(st *threadState) error {
	var err error
	if st.err == nil {
		err = libc.LegacyUnregister(rseqabi.AreaSize, rseqabi.Signature)
	}
	libc.SetOwnerWord(0)
	st.watch.Stop()
	return err
}

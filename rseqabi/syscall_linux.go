package rseqabi

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Register registers area as the calling thread's rseq area, with the given
// length and signature. AreaSize (32) is the original length, accepted by
// every kernel at 32-byte alignment; a longer one (Features.RegisterLength)
// needs Features.Align and lets the kernel write that many bytes. The caller must hold its goroutine on the thread
// (runtime.LockOSThread) for as long as it relies on the registration, and
// area must be 32-byte aligned memory that stays valid until Unregister or
// thread exit. Go heap memory must not be used: the kernel writes the area
// behind the garbage collector's back and the collector may move nothing but
// may free it.
//
// Errors match ErrBusy, ErrInvalid, ErrPermission, ErrNotSupported, ErrFault.
func Register(area unsafe.Pointer, length uint32, sig uint32) error {
	return rseq("register", area, length, 0, sig)
}

// Unregister undoes Register for the calling thread. area, length and sig
// must be those of the registration.
func Unregister(area unsafe.Pointer, length uint32, sig uint32) error {
	return rseq("unregister", area, length, FlagUnregister, sig)
}

func rseq(op string, area unsafe.Pointer, length, flags, sig uint32) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RSEQ, uintptr(area), uintptr(length), uintptr(flags), uintptr(sig), 0, 0)
	if e != 0 {
		return &Error{Op: op, Errno: e}
	}
	return nil
}

// Gettid returns the calling thread's id.
func Gettid() int { return unix.Gettid() }

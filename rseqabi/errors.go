package rseqabi

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors for the outcomes of the rseq system call. Errors returned
// by Register and Unregister are *Error values that match these with
// errors.Is, and also match the raw syscall.Errno.
var (
	// ErrBusy (EBUSY): this thread already has exactly this area registered.
	ErrBusy = errors.New("rseq: this area is already registered on this thread")
	// ErrInvalid (EINVAL): another area is registered on this thread (for
	// example glibc's), or the length, alignment or flags are wrong.
	ErrInvalid = errors.New("rseq: another area is registered on this thread, or bad length/alignment/flags")
	// ErrPermission (EPERM): the signature differs from the registration's,
	// or a seccomp filter rejects rseq.
	ErrPermission = errors.New("rseq: signature mismatch or rseq rejected by a seccomp filter")
	// ErrNotSupported (ENOSYS): the kernel has no rseq (Linux < 4.18),
	// or an emulator or sandbox (qemu-user, gVisor) does not implement it.
	ErrNotSupported = errors.New("rseq: not supported by this kernel or emulator")
	// ErrFault (EFAULT): the area is not writable user memory.
	ErrFault = errors.New("rseq: area is not valid user memory")
)

// Error is the error of a failed rseq or membarrier system call.
type Error struct {
	Op    string        // "register", "unregister", "membarrier"
	Errno syscall.Errno // the raw errno
}

func (e *Error) Error() string {
	if s := e.sentinel(); s != nil {
		return fmt.Sprintf("%s (%s: %v)", s, e.Op, e.Errno)
	}
	if name := errnoName(e.Errno); name != "" {
		return fmt.Sprintf("rseq: %s: %v (%s)", e.Op, e.Errno, name)
	}
	return fmt.Sprintf("rseq: %s: %v (errno %d)", e.Op, e.Errno, uintptr(e.Errno))
}

// errnoName is the symbolic name of the errnos the rseq and membarrier
// calls document, or "".
func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EPERM:
		return "EPERM"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ENOSYS:
		return "ENOSYS"
	case syscall.EBUSY:
		return "EBUSY"
	case syscall.EFAULT:
		return "EFAULT"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EOPNOTSUPP:
		return "EOPNOTSUPP"
	case 524:
		return "ENOTSUPP"
	}
	return ""
}

// Unwrap returns the raw errno, so errors.Is(err, syscall.EBUSY) works.
func (e *Error) Unwrap() error { return e.Errno }

// Is reports whether target is the sentinel for this errno.
func (e *Error) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

// sentinel is the rseq(2) outcome the errno stands for; membarrier's
// errnos mean other things (EPERM: a seccomp filter, or the process did
// not register for the command), so they have none.
func (e *Error) sentinel() error {
	if e.Op == "membarrier" {
		return nil
	}
	switch e.Errno {
	case syscall.EBUSY:
		return ErrBusy
	case syscall.EINVAL:
		return ErrInvalid
	case syscall.EPERM:
		return ErrPermission
	case syscall.ENOSYS:
		return ErrNotSupported
	case syscall.EFAULT:
		return ErrFault
	}
	return nil
}

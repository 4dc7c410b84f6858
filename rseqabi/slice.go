package rseqabi

import (
	"errors"
	"fmt"
	"syscall"
)

// Time slice extension (Linux 7.0): a thread that enabled it with prctl may
// ask the scheduler, through its rseq area, to let it run a little longer
// (tens of microseconds) when its time slice ends inside a short critical
// region such as a lock hold, and then gives the CPU back with the
// rseq_slice_yield system call. The values are those of the kernel's
// include/uapi/linux/prctl.h and linux/rseq.h and of its rseq selftest
// (tools/testing/selftests/rseq/slice_test.c), which all agree on the prctl
// values. The system call number is the selftest's; one early test program
// of the series used 470, so detection relies on the prctl alone.
const (
	PR_RSEQ_SLICE_EXTENSION     = 79
	PR_RSEQ_SLICE_EXTENSION_GET = 1
	PR_RSEQ_SLICE_EXTENSION_SET = 2
	PR_RSEQ_SLICE_EXT_ENABLE    = 0x01
	// SYS_RSEQ_SLICE_YIELD is rseq_slice_yield(2), one number for every
	// architecture (new system calls share the generic table).
	SYS_RSEQ_SLICE_YIELD = 471
	// FlagSliceExtDefaultOn is the rseq registration flag that enables the
	// extension for the thread from its registration on.
	FlagSliceExtDefaultOn = 1 << 1
	// CSFlagSliceExtAvailable and CSFlagSliceExtEnabled are the bits the
	// kernel sets in the area's flags field.
	CSFlagSliceExtAvailable = 1 << 4
	CSFlagSliceExtEnabled   = 1 << 5
)

// errnoENOTSUPP is the kernel's internal "not supported" errno (524), which
// some prctl paths return to user space.
const errnoENOTSUPP = syscall.Errno(524)

// SliceExtension says whether the kernel offers the rseq time slice
// extension.
type SliceExtension struct {
	// Present is true when the kernel offers PR_RSEQ_SLICE_EXTENSION (Linux
	// 7.0+ built with CONFIG_RSEQ_SLICE_EXTENSION, not disabled at boot).
	Present bool
	// Enabled is true when it is enabled for the calling thread.
	Enabled bool
	// Err is why it is absent. It matches ErrSliceExtUnavailable
	// (errors.Is) when the kernel's answer means "not here" (older kernel,
	// not configured, blocked by a sandbox), with the reason; any other
	// error is a real failure of the query.
	Err error
}

// ErrSliceExtUnavailable is matched (errors.Is) by every answer that means
// the time slice extension is not available here: ErrSliceExtAbsent,
// ErrSliceExtNotConfigured, and a prctl a sandbox refuses.
var ErrSliceExtUnavailable = errors.New("rseq: no time slice extension here")

// sliceUnavailable is an answer that means "not available", with its reason.
type sliceUnavailable struct{ msg string }

func (e *sliceUnavailable) Error() string        { return e.msg }
func (e *sliceUnavailable) Is(target error) bool { return target == ErrSliceExtUnavailable }

var (
	// ErrSliceExtAbsent: the kernel rejects PR_RSEQ_SLICE_EXTENSION as an
	// unknown prctl option (EINVAL): it predates the time slice extension.
	ErrSliceExtAbsent error = &sliceUnavailable{"rseq: no time slice extension (PR_RSEQ_SLICE_EXTENSION unknown: Linux < 7.0)"}
	// ErrSliceExtNotConfigured: the kernel knows the prctl but answers
	// ENOTSUPP (524) or EOPNOTSUPP: built without
	// CONFIG_RSEQ_SLICE_EXTENSION (Debian's 7.2 and 7.3) or disabled at
	// boot.
	ErrSliceExtNotConfigured error = &sliceUnavailable{"rseq: time slice extension not configured in this kernel (PR_RSEQ_SLICE_EXTENSION answers ENOTSUPP: built without CONFIG_RSEQ_SLICE_EXTENSION, or disabled at boot)"}
)

// sliceExtensionFrom interprets prctl(PR_RSEQ_SLICE_EXTENSION,
// PR_RSEQ_SLICE_EXTENSION_GET)'s result.
func sliceExtensionFrom(r uintptr, e syscall.Errno) SliceExtension {
	switch e {
	case 0:
		return SliceExtension{Present: true, Enabled: r&PR_RSEQ_SLICE_EXT_ENABLE != 0}
	case syscall.EINVAL:
		return SliceExtension{Err: ErrSliceExtAbsent}
	case errnoENOTSUPP, syscall.EOPNOTSUPP:
		return SliceExtension{Err: ErrSliceExtNotConfigured}
	case syscall.ENOSYS, syscall.EPERM, syscall.EACCES:
		return SliceExtension{Err: &sliceUnavailable{fmt.Sprintf("rseq: time slice extension query refused (prctl: %v, %s): a seccomp filter or sandbox", e, errnoName(e))}}
	}
	return SliceExtension{Err: &Error{Op: "prctl(PR_RSEQ_SLICE_EXTENSION)", Errno: e}}
}

func (s SliceExtension) String() string {
	switch {
	case s.Present && s.Enabled:
		return "present, enabled on this thread"
	case s.Present:
		return "present (not enabled)"
	case errors.Is(s.Err, ErrSliceExtAbsent):
		return "absent"
	case errors.Is(s.Err, ErrSliceExtUnavailable):
		return fmt.Sprintf("absent (%v)", s.Err)
	}
	return fmt.Sprintf("unknown (query failed: %v)", s.Err)
}

package rseqabi

import (
	"golang.org/x/sys/unix"
)

// membarrier(2) commands (include/uapi/linux/membarrier.h).
const (
	MembarrierCmdQuery                        = 0
	MembarrierCmdPrivateExpeditedRseq         = 1 << 7
	MembarrierCmdRegisterPrivateExpeditedRseq = 1 << 8
	MembarrierCmdFlagCPU                      = 1 << 0
)

// MembarrierSupportsRseq reports whether the kernel offers
// MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ (Linux 5.10+).
func MembarrierSupportsRseq() bool {
	r, _, e := unix.RawSyscall(unix.SYS_MEMBARRIER, MembarrierCmdQuery, 0, 0)
	return e == 0 && r&MembarrierCmdPrivateExpeditedRseq != 0
}

// MembarrierRegisterRseq registers the process for rseq fences. It must
// succeed once before MembarrierRseqFence.
func MembarrierRegisterRseq() error {
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, MembarrierCmdRegisterPrivateExpeditedRseq, 0, 0)
	if e != 0 {
		return &Error{Op: "membarrier", Errno: e}
	}
	return nil
}

// MembarrierRseqFence restarts every rseq critical section that threads of
// this process are running on any CPU at the time of the call: when it
// returns, no critical section that started before it can still commit.
func MembarrierRseqFence() error {
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, MembarrierCmdPrivateExpeditedRseq, 0, 0)
	if e != 0 {
		return &Error{Op: "membarrier", Errno: e}
	}
	return nil
}

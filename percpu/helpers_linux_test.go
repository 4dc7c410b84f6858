//go:build linux

package percpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// getcpu returns the CPU and NUMA node the calling thread runs on (getcpu
// system call).
func getcpu() (cpu, node int) {
	var c, n uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return -1, -1
	}
	return int(c), int(n)
}

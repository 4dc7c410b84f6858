package rseqop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func gettid() int { return unix.Gettid() }

// threadExited reports whether thread tid of this process is gone.
func threadExited(tid int) bool { return unix.Tgkill(unix.Getpid(), tid, 0) == unix.ESRCH }

func mmapAnon(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
}

// getcpu returns the CPU and NUMA node the calling thread runs on, with the
// getcpu system call (for threads without an rseq area).
func getcpu() (cpu, node int) {
	var c, n uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return -1, -1
	}
	return int(c), int(n)
}

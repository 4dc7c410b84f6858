//go:build cgo && linux

package libc

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func getcpu(cpu, node *int) error {
	var c, n uint32
	_, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c)), uintptr(unsafe.Pointer(&n)), 0)
	*cpu, *node = int(c), int(n)
	if e != 0 {
		return e
	}
	return nil
}

//go:build cgo && linux

package legacyc

import (
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
	"golang.org/x/sys/unix"
)

func unsafeAreaPtr(th rseqop.Thread) unsafe.Pointer { return unsafe.Pointer(th.Area()) }

func currentCPU() int {
	var c, n uint32
	unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c)), uintptr(unsafe.Pointer(&n)), 0)
	return int(c)
}

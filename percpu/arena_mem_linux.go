package percpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapArenaChunk maps n bytes of zeroed memory outside the Go heap (page
// aligned), never unmapped: its pages become resident when first written.
func mapArenaChunk(n int) unsafe.Pointer {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		panic("percpu: mapping a counter arena chunk: " + err.Error())
	}
	return unsafe.Pointer(&mem[0])
}

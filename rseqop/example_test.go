package rseqop_test

import (
	"fmt"
	"runtime"

	"github.com/gorseq/rseq/percpu"
	"github.com/gorseq/rseq/rseqop"
)

// Pin locks the goroutine to its thread and makes sure the thread is
// registered, so the rseq area's fields can be read directly. They are
// exact only at the moment of reading: the thread may migrate right after.
func ExamplePin() {
	th := rseqop.Pin()
	defer th.Unpin()
	if err := th.Err(); err != nil {
		fmt.Println("no rseq on this thread:", err) // CPU still works, by a system call
	}
	fmt.Printf("cpu %d, node %d, mm_cid %d\n", th.CPU(), th.NodeID(), th.MMCID())
}

// Release gives the library's registration of the calling thread back (it
// never unregisters an area glibc or another library owns), for example
// before a goroutine locked to its thread runs code that wants to register
// an rseq area of its own there.
func ExampleRelease() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var c percpu.Counter
	c.Inc() // registers this thread, where the library owns registrations

	if err := rseqop.Release(); err != nil {
		fmt.Println(err) // rseqop.ErrPinned: a Pin on this thread is still held
	}
	// ... code that registers its own rseq area on this thread ...
}

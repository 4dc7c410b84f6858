//go:build cgo && linux

package legacyc

/*
#include <stdint.h>
int legacyc_run_thread(uintptr_t h, int next_tid);
*/
import "C"

import (
	"runtime/cgo"
	"syscall"
)

// RunCThread runs f on a new C thread (pthread_create, not a Go-created
// thread) and waits until the thread has exited (pthread_join). f runs in a
// cgo callback: locked to that thread, which it must not outlive.
// If nextTID > 0, the kernel is first told to hand out nextTID next (see
// legacyc_run_thread: works where the process may write ns_last_pid, such
// as a PID namespace of its own; check what f sees).
func RunCThread(f func(), nextTID int) error {
	h := cgo.NewHandle(f)
	defer h.Delete()
	if e := C.legacyc_run_thread(C.uintptr_t(h), C.int(nextTID)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

//export legacycThreadBody
func legacycThreadBody(h C.uintptr_t) {
	cgo.Handle(h).Value().(func())()
}

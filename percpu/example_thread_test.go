package percpu_test

import (
	"fmt"

	"github.com/gorseq/rseq/percpu"
)

// Status says, once per process, how gorseq uses rseq: the ownership mode,
// whether the per-CPU critical sections run, and why not if they do not.
// A good line for a program's startup log.
func ExampleStatus() {
	s := percpu.Status()
	fmt.Println(s) // e.g. "mode libc, fast path true; 2 slots indexed by mm_cid; kernel ..."
	if !s.FastPath {
		// Still correct, on slower fallbacks: Reason says what is missing
		// (old kernel, emulator, seccomp, another platform, purego).
		fmt.Println("per-CPU fast path off:", s.Reason)
	}
}

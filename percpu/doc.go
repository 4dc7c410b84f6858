// Package percpu gives Go programs true per-CPU data structures built on
// Linux restartable sequences (rseq): Counter and Pool update this CPU's
// slot with plain loads and stores inside a critical section that the kernel
// restarts if the thread is preempted, migrated or signalled, so the fast
// path needs no atomic read-modify-write, no lock and no runtime.LockOSThread.
//
// The package cooperates with every other rseq user in the process (see
// Mode): it uses glibc's registration where glibc made one, joins the legacy
// __rseq_abi/__rseq_refcount protocol in other cgo programs, and registers
// its own areas in programs without cgo. Where rseq is unavailable (old
// kernels, emulators, seccomp profiles that reject it, other platforms, the
// purego build tag) everything keeps working on slower fallbacks and Status
// says why.
//
// Pin, Thread and Release give direct access to the calling thread's
// registration for code that wants to read its CPU or hand the thread over.
package percpu

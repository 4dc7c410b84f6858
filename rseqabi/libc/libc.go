// Package libc is the cgo part of gorseq: in cgo builds it finds glibc's own
// rseq registration (glibc 2.35+ exports __rseq_offset, __rseq_size and
// __rseq_flags) and takes part in the legacy 2020 sharing protocol through
// the __rseq_abi and __rseq_refcount thread-local symbols, which it defines
// weakly so that C libraries of that protocol in the same process share them.
// It also holds what package percpu needs from C for the threads it tracks:
// a per-thread ownership word in static TLS (OwnerWord) and thread-exit
// watches (ThreadWatch, a pthread key destructor).
//
// In builds without cgo the same API reports that no libc is present. The
// package holds no assembly (a package with cgo files cannot), which is why
// it is separate from package percpu.
//
// Functions that act on "the calling thread" must be called with the
// goroutine locked to its thread (runtime.LockOSThread).
package libc

import "errors"

// Info describes what the C library linked into the process does with rseq.
type Info struct {
	// Cgo is true when the package was built with cgo (a C library is
	// linked and threads are created through pthread_create).
	Cgo bool
	// GlibcSymbols is true when __rseq_offset, __rseq_size and
	// __rseq_flags resolve (glibc 2.35+).
	GlibcSymbols bool
	// RseqOffset is __rseq_offset: the area of each thread lies at its
	// thread pointer plus this offset.
	RseqOffset int64
	// RseqSize is __rseq_size: 0 when glibc did not register (older
	// kernels, GLIBC_TUNABLES=glibc.pthread.rseq=0, seccomp), else the
	// registered feature size (20 on glibc 2.35 to 2.39 even though the
	// kernel fills all 32 bytes it was given).
	RseqSize uint32
	// RseqFlags is __rseq_flags (0 so far).
	RseqFlags uint32
}

// GlibcRegisters reports whether glibc registered an rseq area for every
// thread, which the process must then use instead of its own.
func (i Info) GlibcRegisters() bool { return i.GlibcSymbols && i.RseqSize > 0 }

// ErrNoCgo is returned by the legacy-protocol functions in builds without cgo.
var ErrNoCgo = errors.New("rseq libc: built without cgo")

// ErrEarlierFailure is returned by LegacyRegister when an earlier attempt on
// this thread failed (the shared area's cpu_id is RSEQ_CPU_ID_REGISTRATION_FAILED).
var ErrEarlierFailure = errors.New("rseq libc: an earlier registration of this thread's __rseq_abi failed")

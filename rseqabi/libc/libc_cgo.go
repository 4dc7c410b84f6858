//go:build cgo && linux

package libc

/*
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

// glibc 2.35+ exports these; weak references keep musl and older glibc linkable.
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
extern const unsigned int __rseq_flags __attribute__((weak));

struct gorseq_area {
	uint32_t cpu_id_start;
	uint32_t cpu_id;
	uint64_t rseq_cs;
	uint32_t flags;
	uint32_t node_id;
	uint32_t mm_cid;
	uint32_t pad;
} __attribute__((aligned(32)));

// The legacy sharing protocol (librseq and tcmalloc, 2020): one area and one
// reference count per thread, shared by every library in the process that
// knows the two symbols. Weak definitions, so that an executable or library
// that defines them too wins and everyone binds to one pair.
__thread struct gorseq_area __rseq_abi __attribute__((weak, aligned(32))) = {
	.cpu_id = (uint32_t)-1, // RSEQ_CPU_ID_UNINITIALIZED
};
__thread volatile uint32_t __rseq_refcount __attribute__((weak));

static int gorseq_glibc_info(ptrdiff_t *off, unsigned int *size, unsigned int *flags) {
	if (&__rseq_offset == NULL || &__rseq_size == NULL) {
		return 0;
	}
	*off = __rseq_offset;
	*size = __rseq_size;
	*flags = &__rseq_flags ? __rseq_flags : 0;
	return 1;
}

static uintptr_t gorseq_thread_pointer(void) {
	return (uintptr_t)__builtin_thread_pointer();
}

static void *gorseq_legacy_area(void) { return (void *)&__rseq_abi; }

static void *gorseq_glibc_area(void) {
	if (&__rseq_offset == NULL) {
		return NULL;
	}
	return (char *)__builtin_thread_pointer() + __rseq_offset;
}

static uint32_t gorseq_legacy_refcount(void) { return __rseq_refcount; }

// gorseq_legacy_register takes a reference on the calling thread's shared
// area, registering it if nobody has (cpu_id still UNINITIALIZED). Signals
// are blocked so a handler on this thread cannot interleave. Returns 0 or an
// errno; -1 means an earlier registration attempt failed (cpu_id == -2).
static int gorseq_legacy_register(uint32_t len, uint32_t sig) {
	sigset_t all, old;
	int ret = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (__rseq_refcount == UINT32_MAX) {
		ret = EOVERFLOW;
		goto out;
	}
	if (__rseq_abi.cpu_id == (uint32_t)-1) {
		if (syscall(__NR_rseq, &__rseq_abi, len, 0, sig) != 0 && errno != EBUSY) {
			ret = errno;
			__rseq_abi.cpu_id = (uint32_t)-2; // RSEQ_CPU_ID_REGISTRATION_FAILED
			goto out;
		}
	} else if ((int32_t)__rseq_abi.cpu_id < 0) {
		ret = -1;
		goto out;
	}
	__rseq_refcount++;
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

// gorseq_legacy_unregister drops a reference; the one that brings the count
// to 0 unregisters the area. Returns 0 or an errno (EINVAL: no reference held).
static int gorseq_legacy_unregister(uint32_t len, uint32_t sig) {
	sigset_t all, old;
	int ret = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (__rseq_refcount == 0) {
		ret = EINVAL;
		goto out;
	}
	if (--__rseq_refcount == 0) {
		if (syscall(__NR_rseq, &__rseq_abi, len, 1, sig) != 0) {
			ret = errno;
			__rseq_refcount = 1;
			goto out;
		}
		__rseq_abi.cpu_id = (uint32_t)-1;
	}
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Detect reports glibc's rseq registration.
func Detect() Info {
	var off C.ptrdiff_t
	var size, flags C.uint
	info := Info{Cgo: true}
	if C.gorseq_glibc_info(&off, &size, &flags) != 0 {
		info.GlibcSymbols = true
		info.RseqOffset = int64(off)
		info.RseqSize = uint32(size)
		info.RseqFlags = uint32(flags)
	}
	return info
}

// ThreadPointer returns the calling thread's thread pointer (what FS:0 holds
// on amd64 and TPIDR_EL0 on arm64).
func ThreadPointer() uintptr { return uintptr(C.gorseq_thread_pointer()) }

// GlibcArea returns the calling thread's glibc rseq area (thread pointer +
// __rseq_offset), or nil where glibc does not export __rseq_offset. Whether
// it is registered is for its cpu_id to say (Info.GlibcRegisters).
func GlibcArea() unsafe.Pointer { return C.gorseq_glibc_area() }

// LegacyArea returns the calling thread's __rseq_abi.
func LegacyArea() unsafe.Pointer { return C.gorseq_legacy_area() }

// LegacyRefcount returns the calling thread's __rseq_refcount.
func LegacyRefcount() uint32 { return uint32(C.gorseq_legacy_refcount()) }

// LegacyRegister takes a reference on the calling thread's __rseq_abi under
// the legacy protocol, registering it with the kernel if nobody has.
func LegacyRegister(length, sig uint32) error {
	switch r := C.gorseq_legacy_register(C.uint32_t(length), C.uint32_t(sig)); r {
	case 0:
		return nil
	case -1:
		return ErrEarlierFailure
	default:
		return syscall.Errno(r)
	}
}

// LegacyUnregister drops the reference LegacyRegister took; the last
// reference unregisters the area.
func LegacyUnregister(length, sig uint32) error {
	if r := C.gorseq_legacy_unregister(C.uint32_t(length), C.uint32_t(sig)); r != 0 {
		return syscall.Errno(r)
	}
	return nil
}

//go:build cgo && linux

package legacyc

// The C part is a library that uses rseq through the 2020 sharing protocol
// (as tcmalloc and librseq did before glibc 2.35 registered threads itself).
// It declares __rseq_abi and __rseq_refcount extern; in the linked program
// they resolve to the weak definitions in rseqabi/libc, exactly as an
// independent C library's references would.

/*
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

struct legacy_rseq {
	uint32_t cpu_id_start;
	uint32_t cpu_id;
	uint64_t rseq_cs;
	uint32_t flags;
	uint32_t node_id;
	uint32_t mm_cid;
	uint32_t pad;
} __attribute__((aligned(32)));

extern __thread struct legacy_rseq __rseq_abi;
extern __thread volatile uint32_t __rseq_refcount;

#if defined(__x86_64__)
#define LEGACY_SIG 0x53053053
#elif defined(__aarch64__)
#define LEGACY_SIG 0xd428bc00
#else
#define LEGACY_SIG 0
#endif

// The signature this library registers with: the architecture's usual one
// unless a test makes it a library built with another (legacy_use_sig).
static uint32_t legacy_sig = LEGACY_SIG;
static void legacy_use_sig(uint32_t sig) { legacy_sig = sig; }
static uint32_t legacy_default_sig(void) { return LEGACY_SIG; }

// The protocol, as a C library of 2020 implemented it.
static int legacy_register(void) {
	if (__rseq_refcount++ > 0) {
		return 0;
	}
	if (__rseq_abi.cpu_id != (uint32_t)-1) {
		return 0; // someone registered without counting: use it
	}
	if (syscall(__NR_rseq, &__rseq_abi, sizeof(__rseq_abi), 0, legacy_sig) != 0) {
		int e = errno;
		__rseq_refcount--;
		return e;
	}
	return 0;
}

static int legacy_unregister(void) {
	if (__rseq_refcount == 0) {
		return EINVAL;
	}
	if (--__rseq_refcount > 0) {
		return 0;
	}
	if (syscall(__NR_rseq, &__rseq_abi, sizeof(__rseq_abi), 1, legacy_sig) != 0) {
		__rseq_refcount = 1;
		return errno;
	}
	return 0;
}

static int32_t legacy_cpu_id(void) { return (int32_t)__rseq_abi.cpu_id; }
static uint32_t legacy_refcount(void) { return __rseq_refcount; }
static void *legacy_area(void) { return (void *)&__rseq_abi; }

// legacy_reregister_errno tries to register the area again: EBUSY proves the
// kernel still has it registered.
static int legacy_reregister_errno(void) {
	if (syscall(__NR_rseq, &__rseq_abi, sizeof(__rseq_abi), 0, legacy_sig) == 0) {
		return 0;
	}
	return errno;
}
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// DefaultSignature is the architecture's rseq signature, which the library
// registers with unless UseSignature changed it.
var DefaultSignature = uint32(C.legacy_default_sig())

// UseSignature makes the library register (and unregister) with sig from
// now on, in every thread, like a library built with another signature.
func UseSignature(sig uint32) { C.legacy_use_sig(C.uint32_t(sig)) }

// Register takes a reference under the legacy protocol (registering if it is
// the first user on this thread).
func Register() error { return errno(C.legacy_register()) }

// Unregister drops a reference; the last one unregisters.
func Unregister() error { return errno(C.legacy_unregister()) }

// CPUID is the shared area's cpu_id as C sees it.
func CPUID() int32 { return int32(C.legacy_cpu_id()) }

// Refcount is __rseq_refcount as C sees it.
func Refcount() uint32 { return uint32(C.legacy_refcount()) }

// Area is the address of this thread's __rseq_abi as C sees it.
func Area() unsafe.Pointer { return C.legacy_area() }

// ReregisterErrno tries to register __rseq_abi again with the library's
// signature and returns the errno (EBUSY: still registered; 0: it was not
// registered and now is).
func ReregisterErrno() syscall.Errno { return syscall.Errno(C.legacy_reregister_errno()) }

func errno(r C.int) error {
	if r != 0 {
		return syscall.Errno(r)
	}
	return nil
}

//go:build cgo && linux

package libc

/*
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
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

// gorseq_owner is the thread's ownership word (percpu: 0 = not set up by
// the library yet, all ones = unusable, else the owning M). Static TLS
// (initial-exec) so it lies at a constant offset from the thread pointer,
// where the generated critical sections read it; every new thread starts
// with 0, also when glibc reuses a cached stack (it re-initialises TLS).
__thread uintptr_t gorseq_owner __attribute__((tls_model("initial-exec")));

static uintptr_t gorseq_owner_offset(void) {
	return (uintptr_t)&gorseq_owner - (uintptr_t)__builtin_thread_pointer();
}
static uintptr_t gorseq_owner_get(void) { return gorseq_owner; }
static void gorseq_owner_set(uintptr_t v) { gorseq_owner = v; }

// Thread-exit watches: a pthread key whose destructor marks the thread's
// watch dead while the thread still exists (key destructors run before
// glibc releases the thread's TLS and stack). Readers of another thread's
// TLS take gorseq_watch_mu and read only while the watch is alive, so they
// never touch memory of a thread that has gone.
//
// A watch has two holders: its thread (through the key, until the
// destructor ran or the thread stopped the watch) and the library (until it
// releases the watch). Whichever of the destructor and the release comes
// second frees it, under gorseq_watch_mu, so the destructor never writes to
// a watch the library freed and no watch is left behind.
struct gorseq_watch {
	int dead;     // the thread's key destructor ran
	int released; // the library forgot the watch
};
static pthread_mutex_t gorseq_watch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t gorseq_watch_once = PTHREAD_ONCE_INIT;
static pthread_key_t gorseq_watch_key;
static int gorseq_watch_key_err;
static unsigned long gorseq_watch_exit_frees; // watches freed by their thread's exit (tests)

static void gorseq_watch_exit(void *p) {
	struct gorseq_watch *w = p;
	int released;
	pthread_mutex_lock(&gorseq_watch_mu);
	w->dead = 1;
	released = w->released;
	if (released) {
		gorseq_watch_exit_frees++;
	}
	pthread_mutex_unlock(&gorseq_watch_mu);
	if (released) {
		free(w);
	}
}

static void gorseq_watch_init(void) {
	gorseq_watch_key_err = pthread_key_create(&gorseq_watch_key, gorseq_watch_exit);
}

// gorseq_watch_start returns a new watch of the calling thread, or NULL with
// *err set.
static struct gorseq_watch *gorseq_watch_start(int *err) {
	struct gorseq_watch *w;
	pthread_once(&gorseq_watch_once, gorseq_watch_init);
	if ((*err = gorseq_watch_key_err) != 0) {
		return NULL;
	}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		*err = ENOMEM;
		return NULL;
	}
	if ((*err = pthread_setspecific(gorseq_watch_key, w)) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

// gorseq_watch_stop ends the calling thread's own watch w and frees it: with
// the key cleared, the destructor never sees it.
static void gorseq_watch_stop(struct gorseq_watch *w) {
	if (pthread_getspecific(gorseq_watch_key) == w) {
		pthread_setspecific(gorseq_watch_key, NULL);
	}
	free(w);
}

// gorseq_watch_release gives up the library's hold on w, from any thread: w
// is freed now if its thread has exited, else by the thread's destructor.
static void gorseq_watch_release(struct gorseq_watch *w) {
	int dead;
	pthread_mutex_lock(&gorseq_watch_mu);
	dead = w->dead;
	w->released = 1;
	pthread_mutex_unlock(&gorseq_watch_mu);
	if (dead) {
		free(w);
	}
}

static unsigned long gorseq_watch_exit_frees_get(void) {
	unsigned long n;
	pthread_mutex_lock(&gorseq_watch_mu);
	n = gorseq_watch_exit_frees;
	pthread_mutex_unlock(&gorseq_watch_mu);
	return n;
}

static int gorseq_watch_dead(struct gorseq_watch *w) {
	int d;
	pthread_mutex_lock(&gorseq_watch_mu);
	d = w->dead;
	pthread_mutex_unlock(&gorseq_watch_mu);
	return d;
}

// gorseq_watch_load32 reads *p, a word in the watched thread's TLS, if the
// thread is alive; returns 0 (and reads nothing) once it has exited.
static int gorseq_watch_load32(struct gorseq_watch *w, volatile uint32_t *p, uint32_t *out) {
	int alive;
	pthread_mutex_lock(&gorseq_watch_mu);
	alive = !w->dead;
	if (alive) {
		*out = *p;
	}
	pthread_mutex_unlock(&gorseq_watch_mu);
	return alive;
}

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

// gorseq_rseq_busy reports whether area is registered on the calling thread
// with signature sig: re-registering it is EBUSY exactly then (EPERM: same
// area, other signature; EINVAL: another area or length). Returns 0 if it is,
// else the errno (0 from the syscall means it was not registered and now is:
// reported as EAGAIN after undoing it). Lengths: the caller's and the
// original 32 bytes, which 2020-protocol libraries register.
static int gorseq_rseq_busy(void *area, uint32_t len, uint32_t sig) {
	uint32_t lens[2] = {len, 32};
	int e = EINVAL;
	for (int i = 0; i < 2; i++) {
		if (i == 1 && lens[1] == lens[0]) {
			break;
		}
		if (syscall(__NR_rseq, area, lens[i], 0, sig) == 0) {
			syscall(__NR_rseq, area, lens[i], 1, sig);
			return EAGAIN;
		}
		e = errno;
		if (e != EINVAL) {
			break;
		}
	}
	return e == EBUSY ? 0 : e;
}

// gorseq_legacy_register takes a reference on the calling thread's shared
// area, registering it if nobody has (cpu_id still UNINITIALIZED). If it is
// registered, it must be registered with sig: a library that registered it
// with another signature cannot share it (its abort handlers are not ours),
// and this returns EPERM without taking a reference. Signals are blocked so
// a handler on this thread cannot interleave. Returns 0 or an errno; -1
// means an earlier registration attempt failed (cpu_id == -2).
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
		if (syscall(__NR_rseq, &__rseq_abi, len, 0, sig) != 0) {
			ret = errno;
			if (ret == EBUSY) {
				ret = 0; // ours already (cpu_id not written yet)
			} else {
				__rseq_abi.cpu_id = (uint32_t)-2; // RSEQ_CPU_ID_REGISTRATION_FAILED
				goto out;
			}
		}
	} else if ((int32_t)__rseq_abi.cpu_id < 0) {
		ret = -1;
		goto out;
	} else if ((ret = gorseq_rseq_busy(&__rseq_abi, len, sig)) != 0) {
		goto out; // registered by someone we cannot share with
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

// OwnerWordOffset returns the offset of the calling thread's ownership word
// (a static-TLS uintptr, 0 in every new thread) from its thread pointer: the
// same for every thread.
func OwnerWordOffset() uintptr { return uintptr(C.gorseq_owner_offset()) }

// OwnerWord returns the calling thread's ownership word.
func OwnerWord() uintptr { return uintptr(C.gorseq_owner_get()) }

// SetOwnerWord sets the calling thread's ownership word.
func SetOwnerWord(v uintptr) { C.gorseq_owner_set(C.uintptr_t(v)) }

// ThreadWatch learns when a thread exits: a pthread key destructor marks it
// dead while the thread's TLS still exists. Its methods may be called from
// any thread, except Stop, until the watch is stopped or released; the
// zero ThreadWatch is not valid, and Stop and Release do nothing to it.
type ThreadWatch struct{ w *C.struct_gorseq_watch }

// WatchThread starts watching the calling thread.
func WatchThread() (ThreadWatch, error) {
	var e C.int
	w := C.gorseq_watch_start(&e)
	if w == nil {
		return ThreadWatch{}, syscall.Errno(e)
	}
	return ThreadWatch{w}, nil
}

// Valid reports whether the watch was started.
func (t ThreadWatch) Valid() bool { return t.w != nil }

// Dead reports whether the watched thread has exited (or is exiting: its
// key destructors have run).
func (t ThreadWatch) Dead() bool { return C.gorseq_watch_dead(t.w) != 0 }

// LoadUint32 reads *p, a word the watched thread owns (its TLS), only if
// the thread has not exited; ok is false (and nothing was read) once it has.
func (t ThreadWatch) LoadUint32(p *uint32) (v uint32, ok bool) {
	var out C.uint32_t
	ok = C.gorseq_watch_load32(t.w, (*C.uint32_t)(unsafe.Pointer(p)), &out) != 0
	return uint32(out), ok
}

// Stop ends the watch of the calling thread (which must be the watched one)
// and frees it.
func (t ThreadWatch) Stop() {
	if t.w != nil {
		C.gorseq_watch_stop(t.w)
	}
}

// Release gives up the watch, from any thread, whether its thread has
// exited or not: it is freed now if the thread has exited, else when the
// thread exits (its destructor still marks it). The watch must not be used
// afterwards.
func (t ThreadWatch) Release() {
	if t.w != nil {
		C.gorseq_watch_release(t.w)
	}
}

// watchesFreedAtExit counts the watches freed by their thread's exit, after
// a Release while the thread was alive.
func watchesFreedAtExit() uint64 { return uint64(C.gorseq_watch_exit_frees_get()) }

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

//go:build linux && amd64 && cgo

package cbench

/*
#include <stddef.h>
#include <stdint.h>

// glibc 2.35+: where this thread's struct rseq lies from the thread
// pointer, and how much of it glibc registered (0: glibc did not register).
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

static char *cbench_area(void) {
	char *tp;
	__asm__ ("movq %%fs:0, %0" : "=r"(tp));
	return tp + __rseq_offset;
}

static int cbench_available(void) {
	if (&__rseq_size == NULL || &__rseq_offset == NULL || __rseq_size == 0) {
		return 0;
	}
	return *(volatile int32_t *)(cbench_area() + 4) >= 0; // cpu_id
}

// cbench_add adds 1, n times, to this CPU's slot: slots + idx*4096, where idx
// is the 32-bit area field at idxoff, checked against limit. Each add is one
// critical section: rseq_cs (area + 8) = the descriptor, start_ip, index
// load, bound check, the add to memory as the commit, post_commit_ip.
// Returns the number of aborts, or -1 if an index was out of range.
static int64_t cbench_add(int64_t *slots, uint64_t limit, uint64_t idxoff, int64_t n) {
	char *area = cbench_area();
	int64_t aborts = 0;
	for (int64_t i = 0; i < n; i++) {
	retry:
		__asm__ __volatile__ goto (
			".pushsection __rseq_cs, \"aw\"\n\t"
			".balign 32\n\t"
			"3:\n\t"
			".long 0, 0\n\t"                        // version, flags
			".quad 1f, (2f - 1f), 4f\n\t"           // start_ip, post_commit_offset, abort_ip
			".popsection\n\t"
			"leaq 3b(%%rip), %%rax\n\t"
			"movq %%rax, 8(%[area])\n\t"            // arm: area->rseq_cs = &descriptor
			"1:\n\t"                                // start_ip
			"movl (%[area], %[idxoff]), %%eax\n\t" // idx (zero-extended)
			"cmpq %[limit], %%rax\n\t"
			"jae %l[range]\n\t"
			"shlq $12, %%rax\n\t"
			"addq $1, (%[slots], %%rax)\n\t"       // the commit
			"2:\n\t"                                // post_commit_ip
			".pushsection __rseq_failure, \"ax\"\n\t"
			".byte 0x0f, 0xb9, 0x3d\n\t"            // ud1 with the signature as operand
			".long 0x53053053\n\t"
			"4:\n\t"                                // abort_ip
			"jmp %l[abort]\n\t"
			".popsection\n\t"
			:
			: [area] "r"(area), [idxoff] "r"(idxoff), [limit] "r"(limit), [slots] "r"(slots)
			: "rax", "memory", "cc"
			: abort, range);
		continue;
	abort:
		aborts++;
		goto retry;
	range:
		return -1;
	}
	return aborts;
}
*/
import "C"

import "unsafe"

// Available reports whether glibc registered an rseq area for the calling
// thread (cgo threads all get one when it registers for any).
func Available() bool { return C.cbench_available() != 0 }

// Add runs n critical sections, each adding 1 to the int64 at slots +
// idx*4096 (the arena layout of percpu's counters), idx being the 32-bit
// field at idxOffset in the thread's struct
// rseq (4: cpu_id, 24: mm_cid), which must be below limit. It returns the
// number of aborts, or -1 if an index was out of range. slots must hold
// limit*512 int64s and no Go pointers.
func Add(slots unsafe.Pointer, limit, idxOffset uintptr, n int) int64 {
	return int64(C.cbench_add((*C.int64_t)(slots), C.uint64_t(limit), C.uint64_t(idxOffset), C.int64_t(n)))
}

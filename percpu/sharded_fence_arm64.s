//go:build linux && !purego

#include "textflag.h"

// func shardAcquireFence()
// DMB ISHLD: every load before it (the lock word's, inside Update's
// critical section) is ordered before every load and store after it (the
// function's accesses to the shard), as librseq's
// rseq_smp_acquire__after_ctrl_dep does after taking its per-CPU lock.
TEXT ·shardAcquireFence(SB), NOSPLIT|NOFRAME, $0-0
	DMB $0x9
	RET


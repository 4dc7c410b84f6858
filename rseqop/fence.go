package rseqop

import (
	"runtime"
	"sync/atomic"

	"github.com/gorseq/rseq/rseqabi"
)

// Fence returns once no rseq critical section that was running in this
// process when it was called can still commit: each has committed or been
// aborted (and a restarted one starts after the call, so it reads whatever
// the caller stored before calling Fence). A writer that redirects the
// sections (Counter.Reset swaps the slot array they add to; Sharded's Range
// claims lock words they compare) calls Fence, then reads what the old
// sections can no longer change.
//
// Fence is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ), for which the
// process registered at initialisation (Status().FenceErr says why not, if
// it did not: the structures then do without fences). Should that call fail
// later (a seccomp filter the process installs once it runs, answering
// EPERM), Fence records why (Status().FenceLost) and from then on stops
// the world instead (stopTheWorldFence), which gives the same guarantee
// for gorseq's sections at the cost of a pause of every goroutine. Fence
// never fails. (Where the process could not register at initialisation it
// stops the world every time; gorseq's structures do not call it then.)
func Fence() {
	if proc.fenceErr == nil && fenceLost.Load() == nil {
		err := rseqabi.MembarrierRseqFence()
		if err == nil {
			return
		}
		fenceLost.CompareAndSwap(nil, &fenceFailure{err})
	}
	stopTheWorldFence()
}

// fenceFailure is the error of the first rseq fence that failed after
// initialisation.
type fenceFailure struct{ err error }

// fenceLost is set by the first fence that failed after initialisation.
var fenceLost atomic.Pointer[fenceFailure]

// lostFence returns why fences stop the world since initialisation, or nil.
func lostFence() error {
	if f := fenceLost.Load(); f != nil {
		return f.err
	}
	return nil
}

// stopTheWorldFence orders critical sections by a stop of the world
// (runtime.ReadMemStats stops it to read consistent statistics). The
// runtime stops the world only once every goroutine that holds a P has
// reached a safe point, and an assembly function has none (it is never
// preempted asynchronously; runtime_internals.go), so a goroutine inside
// a generated op must first leave it: by committing, or by failing or
// being aborted to its Go slow path. Goroutines without a P (in a system
// call or in C) are not inside an op: ops make no calls. Once the world
// has stopped, no section that started before the call is in flight, and
// the stop and restart order memory like a full barrier. TestFenceStopTheWorld
// and percpu's TestLateSandboxChild check it; BenchmarkFence measures it.
func stopTheWorldFence() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
}

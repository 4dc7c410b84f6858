package rseqop

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
)

// ProcessStatus describes how this process uses rseq. It is fixed at package
// initialisation, apart from the thread count.
type ProcessStatus struct {
	Mode Mode
	// FastPath is true when per-CPU operations run as rseq critical
	// sections; false means every structure uses its fallback. From
	// rseqop.Status it says that threads can register (Mode is not
	// ModeNone) and packages' ops run once Register validated them; a
	// package's own Status (percpu.Status) also requires its ops to have
	// passed.
	FastPath bool
	// Reason says why Mode is ModeNone or FastPath is false ("" otherwise).
	Reason   string
	Features rseqabi.Features
	Libc     libc.Info
	// Slots is the number of per-CPU slots in every structure: the
	// possible CPUs, not runtime.NumCPU.
	Slots int
	// Index is the area field per-CPU data is indexed by: "mm_cid" or "cpu_id".
	Index string
	// FenceErr is nil when the process registered for rseq fences
	// (membarrier) at initialisation; Counter then resets and Sharded's
	// Range claims without stopping writers. Otherwise it says why, and
	// those structures use their fallbacks.
	FenceErr error
	// FenceLost is non-nil once an rseq fence failed after initialisation
	// (a seccomp filter installed later, say): it says why, and Fence stops
	// the world from then on (correct, but each fence pauses every
	// goroutine; BenchmarkFence measures it).
	FenceLost error
	// Threads is the number of live threads the library has registered or
	// found stray; StrayThreads counts the stray ones among them: threads
	// whose registration belongs to someone the library cannot share it
	// with (another signature, area or length; ld.so's registration of a
	// PIE binary's main thread) or failed. They use the fallbacks.
	Threads      int
	StrayThreads int
	// SliceExtension says whether the kernel offers the rseq time slice
	// extension (Linux 7.0, PR_RSEQ_SLICE_EXTENSION); gorseq detects it but
	// does not use it yet.
	SliceExtension rseqabi.SliceExtension
}

// sliceExtension is detected once, on first use (one prctl).
var sliceExtension = sync.OnceValue(rseqabi.DetectSliceExtension)

// indexField is the area field per-CPU data is indexed by.
func indexField() string {
	if proc.useMMCID {
		return "mm_cid"
	}
	return "cpu_id"
}

// Status reports how this process uses rseq.
func Status() ProcessStatus {
	threads.Lock()
	n, stray := 0, 0
	if owner != nil {
		reclaimDeadLocked()
		n = len(threads.byTID)
		for _, st := range threads.byTID {
			if st.err != nil {
				stray++
			}
		}
	}
	threads.Unlock()
	idx := indexField()
	return ProcessStatus{
		Mode: proc.mode, FastPath: proc.fastPath, Reason: proc.reason,
		Features: proc.features, Libc: proc.libc, Slots: proc.slots, Index: idx,
		FenceErr: proc.fenceErr, FenceLost: lostFence(), Threads: n, StrayThreads: stray,
		SliceExtension: sliceExtension(),
	}
}

func (s ProcessStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s, fast path %v", s.Mode, s.FastPath)
	if s.Reason != "" {
		fmt.Fprintf(&b, " (%s)", s.Reason)
	}
	fmt.Fprintf(&b, "; %d slots indexed by %s; kernel %v", s.Slots, s.Index, s.Features)
	if s.FenceErr != nil {
		fmt.Fprintf(&b, "; no rseq fence: %v", s.FenceErr)
	} else if s.FenceLost != nil {
		fmt.Fprintf(&b, "; rseq fence lost after start-up (%v): fences stop the world", s.FenceLost)
	}
	fmt.Fprintf(&b, "; time slice extension %v", s.SliceExtension)
	return b.String()
}

// ThreadInfo describes one thread the library knows.
type ThreadInfo struct {
	TID  int
	Mode Mode // who owns the registration the thread uses
	// Registered is true when the thread has a usable area.
	Registered bool
	// Pins is the number of active Pins; Persistent is true while the
	// library holds its own reference (until Release).
	Pins       int
	Persistent bool
	CPU        int   // cpu_id when last read, -1 if unregistered
	Err        error // why registration failed (a "stray" thread)
}

// Threads lists the live threads the library has registered or found
// stray, ordered by thread id. States of threads that exited are dropped
// here; their areas (in cgo modes: in TLS that glibc may have unmapped) are
// never read.
func Threads() []ThreadInfo {
	threads.Lock()
	defer threads.Unlock()
	out := make([]ThreadInfo, 0, len(threads.byTID))
	for _, st := range threads.byTID {
		if owner.exited(st) {
			dropLocked(st)
			continue
		}
		ti := ThreadInfo{TID: st.tid, Mode: proc.mode, Registered: st.err == nil && st.area != nil,
			Pins: st.pins, Persistent: st.persistent, CPU: -1, Err: st.err}
		if ti.Registered {
			cpu, ok := owner.loadCPU(st)
			if !ok { // exited just now
				dropLocked(st)
				continue
			}
			ti.CPU = int(cpu)
		}
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TID < out[j].TID })
	return out
}

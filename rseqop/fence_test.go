//go:build linux

package rseqop_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
	"github.com/gorseq/rseq/rseqop/internal/fencetest"
)

// TestFenceOrdersLongSections checks the guarantee of rseqop.Fence, in both
// of its forms, on the protocol Sharded's Range uses: a remote writer swaps
// a slot word 0 -> 2 (compare-and-swap), fences, and then holds the word
// if it still reads 2. A critical section that compared the word with 0
// before the swap must commit before the fence returns or not at all (it
// is aborted, and its restart reads 2 and fails). The sections here copy
// 16 KiB before they commit (rseqop/internal/fencetest), so one is nearly
// always in flight when the writer swaps: with a fence, some claims are
// lost to a section that committed in time (the case the fence exists
// for: counted, and required) and none is ever overwritten afterwards;
// without one, held words are overwritten (required too, so that the
// test can see what it guards against).
func TestFenceOrdersLongSections(t *testing.T) {
	if err := fencetest.Err(); err != nil {
		t.Skipf("no critical sections here: %v", err)
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two Ps: a section in flight on one while the other fences")
	}
	for _, c := range []struct {
		name  string
		fence func()
		ok    bool // the fence orders sections
	}{
		{"membarrier", func() {
			if err := rseqabi.MembarrierRseqFence(); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"stop-the-world", rseqop.StopTheWorldFence, true},
		{"none", func() {}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "membarrier" && rseqop.Status().FenceErr != nil {
				t.Skipf("no membarrier fence: %v", rseqop.Status().FenceErr)
			}
			r := claimUnderLongSections(t, c.fence, func(r claimRun) bool {
				if c.ok {
					return r.lost > 0 && r.claims >= 200
				}
				return r.overwritten > 0
			})
			t.Logf("%+v", r)
			switch {
			case c.ok && r.overwritten > 0:
				t.Errorf("%d held claims overwritten by a section after the fence returned", r.overwritten)
			case c.ok && r.lost == 0:
				t.Errorf("no claim was lost to a section in flight in %v: the fence had nothing to order, the run proves nothing", r.elapsed)
			case !c.ok && r.overwritten == 0:
				t.Errorf("without a fence no held claim was overwritten in %v: the test cannot see a missing fence", r.elapsed)
			}
		})
	}
}

type claimRun struct {
	claims      int // words swapped 0 -> 2
	lost        int // a section overwrote the swap before the fence returned
	overwritten int // a section overwrote a held word after the fence returned
	sections    int64
	aborts      uint64
	elapsed     time.Duration
}

// claimUnderLongSections runs long sections on every slot's word from
// GOMAXPROCS-1 locked threads while the calling goroutine claims words
// with fence, until done says so or 20 s have passed.
func claimUnderLongSections(t *testing.T, fence func(), done func(claimRun) bool) claimRun {
	const n = 16 << 10 // bytes each section copies
	const stride = 64 + n
	s := rseqop.Status()
	limit := uintptr(s.Slots)
	mem := make([]uint64, int(limit)*stride/8)
	word := func(i uintptr) *uint64 { return &mem[i*stride/8] }
	base := unsafe.Pointer(&mem[0])
	src := make([]byte, n)
	var stop atomic.Bool
	var sections atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) - 1 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for !stop.Load() {
				idx, st := fencetest.Claim(base, stride, limit, unsafe.Pointer(&src[0]), n)
				switch st {
				case fencetest.OK:
					sections.Add(1)
					atomic.StoreUint64(word(idx), 0) // the holder releases
				case fencetest.Unregistered:
					if !rseqop.SlowPath() {
						t.Error("a worker thread cannot register")
						return
					}
				}
				preemptible()
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	aborts := fencetest.Aborts()
	var r claimRun
	start := time.Now()
	var claimed []uintptr
	for !done(r) && time.Since(start) < 20*time.Second {
		claimed = claimed[:0]
		for i := range limit {
			if atomic.CompareAndSwapUint64(word(i), 0, 2) {
				claimed = append(claimed, i)
			}
		}
		r.claims += len(claimed)
		fence()
		held := claimed[:0]
		for _, i := range claimed {
			if atomic.LoadUint64(word(i)) == 2 {
				held = append(held, i)
			} else {
				r.lost++
			}
		}
		time.Sleep(50 * time.Microsecond) // longer than a section
		for _, i := range held {
			if atomic.LoadUint64(word(i)) != 2 {
				r.overwritten++
				continue
			}
			atomic.StoreUint64(word(i), 0)
		}
	}
	r.elapsed, r.sections, r.aborts = time.Since(start), sections.Load(), fencetest.Aborts()-aborts
	return r
}

// preemptible is a call the runtime can stop a worker at (its stack check),
// between two sections.
//
//go:noinline
func preemptible() {}

// BenchmarkFence: what one rseq fence costs, membarrier against the stop of
// the world Fence falls back to when membarrier fails after start-up (with
// GOMAXPROCS-1 goroutines busy in Go code, which the stop must preempt).
func BenchmarkFence(b *testing.B) {
	for _, c := range []struct {
		name  string
		fence func()
	}{
		{"membarrier", func() { _ = rseqabi.MembarrierRseqFence() }},
		{"stop-the-world", rseqop.StopTheWorldFence},
	} {
		b.Run("impl="+c.name, func(b *testing.B) {
			if c.name == "membarrier" && rseqop.Status().FenceErr != nil {
				b.Skip(rseqop.Status().FenceErr)
			}
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range runtime.GOMAXPROCS(0) - 1 {
				wg.Go(func() {
					for x := 0; !stop.Load(); x++ {
						preemptible()
					}
				})
			}
			for b.Loop() {
				c.fence()
			}
			stop.Store(true)
			wg.Wait()
		})
	}
}

//go:build linux

package percpu

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqop"
)

func TestCounterZeroValue(t *testing.T) {
	var c Counter
	if c.Load() != 0 || c.Reset() != 0 {
		t.Fatal("zero Counter not zero")
	}
	c.Inc()
	c.Add(41)
	c.Dec()
	if got := c.Load(); got != 41 {
		t.Fatalf("Load = %d, want 41", got)
	}
	if got := c.Reset(); got != 41 {
		t.Fatalf("Reset = %d, want 41", got)
	}
	if got := c.Load(); got != 0 {
		t.Fatalf("Load after Reset = %d", got)
	}
	slots, over := c.PerSlot()
	if len(slots) != proc.slots || over != 0 {
		t.Fatalf("PerSlot: %d slots, overflow %d", len(slots), over)
	}
}

// counterFns names the generated function Counter.Add runs, for the abort
// assertions of opStress (none when Counter is on its fallback).
func counterFns() []string {
	if !counterRseq {
		return nil
	}
	return []string{"counterAdd"}
}

// TestCounterUsesCriticalSection proves Add lands in the per-CPU slots
// through the critical section where it should, so the exactness tests
// cannot pass on the fallback alone.
func TestCounterUsesCriticalSection(t *testing.T) {
	if !counterRseq {
		t.Skipf("Counter on its fallback: %s (fence: %v)", proc.reason, proc.fenceErr)
	}
	var c Counter
	th := rseqop.Pin()
	defer th.Unpin()
	c.Add(1) // allocates
	for i := 0; i < 1000; i++ {
		c.Add(2)
	}
	slots, over := c.PerSlot()
	if over != 0 {
		t.Fatalf("adds went to the overflow slot: %d", over)
	}
	var sum int64
	for _, v := range slots {
		sum += v
	}
	if sum != 2001 {
		t.Fatalf("slots sum to %d, want 2001", sum)
	}
	// Index out of range must not touch the slots: the op reports it and
	// Counter sends the add to the overflow slot.
	if _, st := zopLoadAddLoadLoadAddStore(unsafe.Pointer(&c.h.cell), arenaRegion, 0, 5); st != zopStatusIndexRange {
		t.Fatalf("limit 0: status %d, want %d", st, zopStatusIndexRange)
	}
}

// TestCounterExactUnderStress: many goroutines (more than GOMAXPROCS, locked
// threads migrating between CPUs) add while signal storms, rseq fences and a
// GC loop interrupt them; the total must be exact and, on the fast path,
// the critical section's abort handler must have run.
func TestCounterExactUnderStress(t *testing.T) {
	testutil.StartPressure(t, testutil.PressureOptions{GC: true, GCInterval: time.Millisecond, Allocators: 1})
	var c Counter
	var want atomic.Int64
	opStress(t, counterFns(), false, func(w int, rng *rand.Rand) {
		var mine int64
		for range 500 {
			d := int64(rng.IntN(7)) - 2
			c.Add(d)
			mine += d
		}
		want.Add(mine)
	})
	if got := c.Load(); got != want.Load() {
		t.Fatalf("Load = %d, want %d (lost or duplicated adds)", got, want.Load())
	}
	if _, over := c.PerSlot(); counterRseq && over != 0 {
		t.Errorf("overflow slot %d with every thread registered", over)
	}
}

// TestCounterResetExact: Reset under concurrent adds (and aborts) loses
// nothing and counts nothing twice.
func TestCounterResetExact(t *testing.T) {
	var c Counter
	var want, resets atomic.Int64
	var nResets atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				resets.Add(c.Reset())
				nResets.Add(1)
				time.Sleep(20 * time.Microsecond)
			}
		}
	}()
	opStress(t, counterFns(), false, func(w int, rng *rand.Rand) {
		var mine int64
		for range 500 {
			c.Inc()
			mine++
		}
		want.Add(mine)
	})
	close(stop)
	wg.Wait()
	if got := resets.Load() + c.Load(); got != want.Load() {
		t.Fatalf("resets + Load = %d, want %d (%d resets)", got, want.Load(), nResets.Load())
	}
	if nResets.Load() < 2 { // a slow VM runs few; more than one must overlap the adds
		t.Errorf("only %d resets ran", nResets.Load())
	}
	t.Logf("%d resets, %d adds", nResets.Load(), want.Load())
}

// TestCounterOverflowPath: adds of a thread that cannot use the slots (here:
// every index out of range, the status a stray thread's fallback shares) go
// through Counter's real slow path to the overflow slot and are still
// counted and reset exactly.
func TestCounterOverflowPath(t *testing.T) {
	var c Counter
	c.Add(1)
	if counterRseq {
		slots, hot := proc.slots, counterSlots
		// The ops' limits: every index is out of range, so counterAdd
		// goes to its slow path and the slow path's op to the overflow.
		proc.slots, counterSlots = 0, 0
		c.Add(7)
		proc.slots, counterSlots = slots, hot
	} else {
		c.Add(7) // the fallback: every add is atomic on a slot
	}
	if got := c.Load(); got != 8 {
		t.Fatalf("Load = %d, want 8", got)
	}
	if _, over := c.PerSlot(); counterRseq && over != 7 {
		t.Fatalf("overflow = %d, want 7", over)
	}
	if got := c.Reset(); got != 8 {
		t.Fatalf("Reset = %d, want 8", got)
	}
}

func TestCounterManyCounters(t *testing.T) {
	cs := make([]Counter, 64)
	var wg sync.WaitGroup
	for g := 0; g < 2*runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				cs[i%len(cs)].Add(int64(i % 3))
			}
		}()
	}
	wg.Wait()
	for i := range cs {
		want := int64(0)
		for j := i; j < 10000; j += len(cs) {
			want += int64(j % 3)
		}
		want *= int64(2 * runtime.GOMAXPROCS(0))
		if got := cs[i].Load(); got != want {
			t.Fatalf("counter %d = %d, want %d", i, got, want)
		}
	}
}

//go:build linux

package percpu

import (
	"math"
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

func TestFloat64CounterZeroValue(t *testing.T) {
	var c Float64Counter
	if c.Load() != 0 || c.Reset() != 0 || c.String() != "0" {
		t.Fatal("zero Float64Counter not zero")
	}
	c.Add(1.5)
	c.Inc()
	c.Add(-0.25)
	if got := c.Load(); got != 2.25 {
		t.Fatalf("Load = %g, want 2.25", got)
	}
	if got := c.String(); got != "2.25" {
		t.Fatalf("String = %q", got)
	}
	if got := c.Reset(); got != 2.25 {
		t.Fatalf("Reset = %g, want 2.25", got)
	}
	if got := c.Load(); got != 0 {
		t.Fatalf("Load after Reset = %g", got)
	}
}

// float64Fns names the generated function Float64Counter.Add runs.
func float64Fns() []string {
	if !counterRseq {
		return nil
	}
	return []string{"float64Add"}
}

// TestFloat64CounterUsesCriticalSection: Add lands in this CPU's word
// through the critical section, not the overflow word.
func TestFloat64CounterUsesCriticalSection(t *testing.T) {
	if !counterRseq {
		t.Skipf("counters on their fallback: %s (fence: %v)", proc.reason, proc.fenceErr)
	}
	var c Float64Counter
	th := rseqop.Pin()
	defer th.Unpin()
	c.Add(1)
	for range 1000 {
		c.Add(0.5)
	}
	if over := math.Float64frombits(atomic.LoadUint64(overflowWord(c.h.cell))); over != 0 {
		t.Fatalf("adds went to the overflow word: %g", over)
	}
	if got := c.Load(); got != 501 {
		t.Fatalf("Load = %g, want 501", got)
	}
}

// TestFloat64CounterExactUnderStress: values that are multiples of 1/4 sum
// exactly in float64 in any order while the partial sums stay below 2^53/4:
// the total must be exact under storms, and the section must have aborted.
func TestFloat64CounterExactUnderStress(t *testing.T) {
	testutil.StartPressure(t, testutil.PressureOptions{GC: true, GCInterval: time.Millisecond, Allocators: 1})
	var c Float64Counter
	var want atomic.Int64 // in quarters
	opStress(t, float64Fns(), false, func(w int, rng *rand.Rand) {
		var mine int64
		for range 500 {
			q := int64(rng.IntN(9)) - 2
			c.Add(float64(q) / 4)
			mine += q
		}
		want.Add(mine)
	})
	if got := c.Load(); got != float64(want.Load())/4 {
		t.Fatalf("Load = %g, want %g (lost or duplicated adds)", got, float64(want.Load())/4)
	}
}

// TestFloat64CounterResetExact: Reset under concurrent adds loses nothing
// and counts nothing twice.
func TestFloat64CounterResetExact(t *testing.T) {
	var c Float64Counter
	var want atomic.Int64
	var resets float64
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				r := c.Reset()
				mu.Lock()
				resets += r
				mu.Unlock()
				time.Sleep(20 * time.Microsecond)
			}
		}
	})
	opStress(t, float64Fns(), false, func(w int, rng *rand.Rand) {
		for range 500 {
			c.Inc()
		}
		want.Add(500)
	})
	close(stop)
	wg.Wait()
	if got := resets + c.Load(); got != float64(want.Load()) {
		t.Fatalf("resets + Load = %g, want %d", got, want.Load())
	}
}

// TestFloat64CounterOverflowPath: a thread whose index is out of range adds
// to the overflow word, still counted and reset exactly.
func TestFloat64CounterOverflowPath(t *testing.T) {
	var c Float64Counter
	c.Add(1)
	if counterRseq {
		slots, hot := proc.slots, counterSlots
		proc.slots, counterSlots = 0, 0
		c.Add(7.5)
		proc.slots, counterSlots = slots, hot
		if over := math.Float64frombits(atomic.LoadUint64(overflowWord(c.h.cell))); over != 7.5 {
			t.Fatalf("overflow = %g, want 7.5", over)
		}
	} else {
		c.Add(7.5)
	}
	if got := c.Reset(); got != 8.5 {
		t.Fatalf("Reset = %g, want 8.5", got)
	}
}

// FuzzFloat64Add: the critical section's float64 add (ADDSD, FADDD) and the
// fallback's (Go's +) give the same bits for any two doubles, infinities,
// zeros of both signs and subnormals included (two NaNs count as equal).
func FuzzFloat64Add(f *testing.F) {
	for _, v := range [][2]float64{{0, 0}, {1, 2}, {0.1, 0.2}, {math.Inf(1), math.Inf(-1)}, {math.Copysign(0, -1), 0}, {math.SmallestNonzeroFloat64, math.MaxFloat64}, {1e308, 1e308}, {math.NaN(), 1}} {
		f.Add(math.Float64bits(v[0]), math.Float64bits(v[1]))
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		limit := opLimit()
		sec, secWords := arenaWords(limit)
		fb, fbWords := arenaWords(limit)
		for i := range limit {
			secWords[i*arenaColumns], fbWords[i*arenaColumns] = a, a
		}
		idx, st := zopLoadLoadFAddStore(unsafe.Pointer(&sec), arenaRegion, limit, math.Float64frombits(b))
		if st == zopStatusUnregistered && slowPath() {
			idx, st = zopLoadLoadFAddStore(unsafe.Pointer(&sec), arenaRegion, limit, math.Float64frombits(b))
		}
		if st == zopStatusUnregistered {
			idx, st = 0, zopStatusOK // no critical sections here: compare the fallback with Go alone
			secWords[0] = math.Float64bits(math.Float64frombits(a) + math.Float64frombits(b))
		}
		if st != zopStatusOK {
			t.Fatalf("status %d", st)
		}
		if _, st := zopFallbackLoadLoadFAddStore(idx, unsafe.Pointer(&fb), arenaRegion, limit, math.Float64frombits(b)); st != zopStatusOK {
			t.Fatalf("fallback status %d", st)
		}
		got, want := secWords[idx*arenaColumns], fbWords[idx*arenaColumns]
		gof := math.Float64frombits(a) + math.Float64frombits(b)
		same := func(x, y uint64) bool {
			return x == y || math.IsNaN(math.Float64frombits(x)) && math.IsNaN(math.Float64frombits(y))
		}
		if !same(got, want) || !same(want, math.Float64bits(gof)) {
			t.Fatalf("%x + %x: section %x, fallback %x, Go %x", a, b, got, want, math.Float64bits(gof))
		}
	})
}

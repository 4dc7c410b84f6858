//go:build linux

package percpu

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gorseq/rseq/internal/testutil"
)

// arenaResident returns the bytes of the arena's chunks that are resident
// (mincore), and how many chunks there are.
func arenaResident(t testing.TB) (resident int64, chunks int) {
	a := &counterArena
	a.mu.Lock()
	defer a.mu.Unlock()
	page := unix.Getpagesize()
	for _, ch := range a.order {
		n := arenaRegions() * arenaRegion
		vec := make([]byte, (n+page-1)/page)
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(ch.base), uintptr(n), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatalf("mincore: %v", e)
		}
		for _, v := range vec {
			if v&1 != 0 {
				resident += int64(page)
			}
		}
	}
	return resident, len(a.order)
}

// counterCost is what n counters cost each, as resident memory: their words
// in the arena (pages outside the heap) and everything else (the counter, its
// weak owner record, the arena's bookkeeping).
type counterCost struct {
	words, other float64
	touched      float64 // regions written per chunk
}

// counterBytes creates n counters, each allocated alone and added to once
// from this thread, and measures what they cost, keeping them alive meanwhile.
func counterBytes(t testing.TB, n int) counterCost {
	before := testutil.ResidentBytes(t)
	arenaBefore, chunksBefore := arenaResident(t)
	cs := make([]*Counter, n)
	for i := range cs {
		cs[i] = new(Counter)
		cs[i].Inc()
	}
	after := testutil.ResidentBytes(t)
	arenaAfter, chunksAfter := arenaResident(t)
	runtime.KeepAlive(cs)
	words := float64(arenaAfter - arenaBefore)
	total := float64(after - before - int64(n)*8) // not the slice of pointers
	c := counterCost{words: words / float64(n), other: (total - words) / float64(n)}
	if d := chunksAfter - chunksBefore; d > 0 {
		c.touched = words / arenaRegion / float64(d)
	}
	return c
}

// TestArenaMemory: 100k counters cost 8 bytes per slot they were added to on
// (this goroutine's thread: one or two slots here; regions no thread wrote
// stay unmapped) plus a fixed cost per counter, measured as resident memory
// (heap, the runtime's weak pointer records, the arena's pages). The fixed
// cost is the Counter (8 bytes), its owner slot in the arena (8) and the
// runtime's weak pointer (a record and a handle, about 50 bytes measured): the
// issue's goal was 64, which the runtime's cost alone nearly fills
// (runtime.AddCleanup costs more: about 90). Asserted with a margin: 80.
func TestArenaMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k counters")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is not the counters'")
	}
	c := counterBytes(t, 100_000)
	t.Logf("per counter: %.1f bytes of words (%.1f regions of %d touched per chunk), %.1f bytes else", c.words, c.touched, arenaRegions(), c.other)
	if c.words > 8*(c.touched+0.5) {
		t.Errorf("%.1f bytes of words per counter with %.1f regions touched: want 8 per region", c.words, c.touched)
	}
	if c.other > 80 {
		t.Errorf("%.1f bytes per counter besides its words, want at most 80", c.other)
	}
}

// arenaChunks returns how many chunks the arena has mapped.
func arenaChunks() int {
	counterArena.mu.Lock()
	defer counterArena.mu.Unlock()
	return len(counterArena.order)
}

// TestArenaReclaim: counters that became unreachable give their cells back
// once the collector has run: creating and dropping a million counters in a
// loop maps no more chunks than one round of them needs, and every counter
// starts at 0 (a reclaimed cell is zeroed).
func TestArenaReclaim(t *testing.T) {
	rounds, n := 100, 10_000
	if testing.Short() {
		rounds = 10
	}
	var most int
	for r := range rounds {
		cs := make([]*Counter, n)
		for i := range cs {
			cs[i] = new(Counter)
			if got := cs[i].Load(); got != 0 {
				t.Fatalf("round %d: a new counter reads %d", r, got)
			}
			cs[i].Add(int64(i))
		}
		for i, c := range cs {
			if got := c.Load(); got != int64(i) {
				t.Fatalf("round %d: counter %d reads %d", r, i, got)
			}
		}
		runtime.KeepAlive(cs)
		cs = nil
		runtime.GC()
		if r == 1 {
			most = arenaChunks()
		}
	}
	chunks := arenaChunks()
	t.Logf("%d counters created and dropped, %d chunks of %d cells mapped", rounds*n, chunks, arenaColumns)
	if limit := most + 2; chunks > limit {
		t.Errorf("%d chunks after %d rounds, %d after the second: dropped counters' cells are not reused", chunks, rounds, most)
	}
}

// TestArenaConcurrentCreation: goroutines create counters and add to them
// at once; every counter gets a cell of its own (exact totals, no two
// counters on one cell), and the arena grows without losing a cell.
func TestArenaConcurrentCreation(t *testing.T) {
	const workers, per = 8, 2000
	all := make([][]*Counter, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			cs := make([]*Counter, per)
			for i := range cs {
				cs[i] = new(Counter)
				for range i%5 + 1 {
					cs[i].Inc()
				}
			}
			all[w] = cs
		})
	}
	wg.Wait()
	seen := map[unsafe.Pointer]bool{}
	for _, cs := range all {
		for i, c := range cs {
			if got, want := c.Load(), int64(i%5+1); got != want {
				t.Fatalf("counter reads %d, want %d", got, want)
			}
			if seen[c.h.cell] {
				t.Fatalf("two counters share cell %p", c.h.cell)
			}
			seen[c.h.cell] = true
		}
	}
}

// TestResetReusesCells: Reset and ResetAll move counters to free cells and
// give the old ones back: many resets map no chunk and allocate nothing.
func TestResetReusesCells(t *testing.T) {
	cs := make([]*Counter, 100)
	for i := range cs {
		cs[i] = new(Counter)
		cs[i].Inc()
	}
	var c Counter
	c.Add(5)
	chunks := arenaChunks()
	totals := make([]int64, len(cs))
	for range 1000 {
		c.Add(2)
		if got := c.Reset(); got != 2 && got != 7 {
			t.Fatalf("Reset = %d", got)
		}
		ResetAll(cs, totals)
	}
	if got := arenaChunks(); got != chunks {
		t.Errorf("%d chunks after 1000 resets, %d before", got, chunks)
	}
	if a := testing.AllocsPerRun(100, func() { c.Add(1); c.Reset() }); a != 0 {
		t.Errorf("Reset allocates %.1f times", a)
	}
}

//go:build linux

package percpu

import (
	"fmt"
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

// shardedFns names the generated functions Sharded.Update's lock runs, for
// opStress's abort assertions (none when Sharded uses its locked shards).
func shardedFns() []string {
	switch {
	case !shardedRseq():
		return nil
	}
	// The hot op takes the lock; its slow path's retries
	// (opLoadCbneStore) run only when a shard is found taken.
	return []string{"shardLock"}
}

// tally is the shard type of the exactness tests. busy catches two
// functions on one shard at once (a broken lock): every Update checks and
// sets it without atomics, so an overlap shows as a failure or a lost count.
type tally struct {
	busy  bool
	n     int64 // updates
	sum   int64 // the sum of their deltas
	twice int64 // 2*sum, written separately from sum: a torn snapshot differs
}

func (x *tally) add(t testing.TB, d int64) {
	if x.busy {
		t.Error("two functions hold one shard at once")
	}
	x.busy = true
	x.n++
	x.sum += d
	x.twice += 2 * d
	x.busy = false
}

// check is what Range must see: a shard at rest.
func (x *tally) check(t testing.TB) {
	if x.busy || x.twice != 2*x.sum {
		t.Errorf("Range saw a shard mid-update: busy %v sum %d twice %d", x.busy, x.sum, x.twice)
	}
}

func shardedTotals(t testing.TB, s *Sharded[tally]) (n, sum int64) {
	s.Range(func(x *tally) {
		x.check(t)
		n += x.n
		sum += x.sum
	})
	return n, sum
}

// shardedWhere sums the updates on the per-CPU shards and on the locked
// shards separately (with the value at rest).
func shardedWhere(s *Sharded[tally]) (cpu, locked int64) {
	t := s.table()
	for i := 1; i < len(t.cpu); i++ {
		cpu += t.cpu[i].val.n
	}
	for i := range t.locked {
		locked += t.locked[i].val.n
	}
	return cpu, locked
}

func TestShardedZeroValue(t *testing.T) {
	// Every shard's lock word takes 64-bit atomics (the locked shards'
	// on every platform): 8-byte aligned shards, also on 32-bit ones.
	if a, b := unsafe.Alignof(cpuShard[tally]{}), unsafe.Alignof(cpuShard[struct{ b bool }]{}); a != 8 || b != 8 {
		t.Fatalf("shard alignment %d, %d; want 8", a, b)
	}
	var s Sharded[tally]
	if n, sum := shardedTotals(t, &s); n != 0 || sum != 0 {
		t.Fatalf("zero Sharded: %d updates, sum %d", n, sum)
	}
	for i := range 100 {
		s.Update(func(x *tally) { x.add(t, int64(i)) })
	}
	if n, sum := shardedTotals(t, &s); n != 100 || sum != 4950 {
		t.Fatalf("%d updates, sum %d; want 100, 4950", n, sum)
	}
	if got := Merge(&s, int64(0), func(acc int64, x *tally) int64 { return acc + x.sum }); got != 4950 {
		t.Fatalf("Merge = %d, want 4950", got)
	}
	shards := 0
	for x := range s.All() {
		x.check(t)
		shards++
	}
	want := len(s.table().locked) + int(s.table().limit)
	if shards != want {
		t.Fatalf("All yielded %d shards, want %d", shards, want)
	}
	// Breaking out of All releases the shard it stopped at and every
	// shard it claimed: Updates and a second Range still go through.
	for range s.All() {
		break
	}
	s.Update(func(x *tally) { x.add(t, 1) })
	if n, _ := shardedTotals(t, &s); n != 101 {
		t.Fatalf("after a broken All: %d updates, want 101", n)
	}
}

// TestShardedUsesCriticalSection proves that Update takes the per-CPU
// shards through the critical section where it should, so the exactness
// tests cannot pass on the locked shards alone, and that an index out of
// range sends the update to the locked shards without touching the others.
func TestShardedUsesCriticalSection(t *testing.T) {
	if !shardedRseq() {
		t.Skipf("Sharded on its locked shards: %s (fence: %v)", proc.reason, proc.fenceErr)
	}
	var s Sharded[tally]
	th := rseqop.Pin()
	defer th.Unpin()
	for range 1000 {
		s.Update(func(x *tally) { x.add(t, 2) })
	}
	cpu, locked := shardedWhere(&s)
	if cpu != 1000 || locked != 0 {
		t.Fatalf("per-CPU shards %d, locked shards %d; want 1000, 0", cpu, locked)
	}
	tab := s.table()
	for i := 1; i < len(tab.cpu); i++ {
		if w := atomic.LoadUint64(&tab.cpu[i].lock); w != shardFree {
			t.Fatalf("shard %d's lock word is %d after the Updates", i-1, w)
		}
	}
	if _, st := zopLoadCbneStore(tab.base, tab.stride, 0, shardFree, shardLocal); st != zopStatusIndexRange {
		t.Fatalf("limit 0: status %d, want %d", st, zopStatusIndexRange)
	}
	limit := tab.limit
	tab.limit, s.cpu.limit = 0, 0 // this Sharded only: every index is out of range
	s.Update(func(x *tally) { x.add(t, 5) })
	tab.limit, s.cpu.limit = limit, limit
	if cpu, locked := shardedWhere(&s); cpu != 1000 || locked != 1 {
		t.Fatalf("index out of range: per-CPU shards %d, locked shards %d; want 1000, 1", cpu, locked)
	}
	// The layout: every shard's lock word 8-byte aligned, consecutive
	// shards' data at least a cache line apart.
	if uintptr(tab.base)%8 != 0 || tab.stride < uintptr(cacheLineSize)+8 {
		t.Fatalf("base %p stride %d", tab.base, tab.stride)
	}
}

// TestShardedExactUnderStress: goroutines (more than GOMAXPROCS, locked
// threads migrating between CPUs, signal storms, rseq fences, a GC loop)
// update while others Range and Merge; every update is counted exactly
// once, no two functions ever hold one shard, Range only sees shards at
// rest, and on the fast path the lock's critical section aborted.
func TestShardedExactUnderStress(t *testing.T) {
	testutil.StartPressure(t, testutil.PressureOptions{GC: true, GCInterval: time.Millisecond, Allocators: 1})
	var s Sharded[tally]
	var wantN, wantSum atomic.Int64
	var stop atomic.Bool
	var ranges atomic.Int64
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			for !stop.Load() {
				if r == 0 {
					shardedTotals(t, &s)
				} else {
					Merge(&s, 0, func(acc int, x *tally) int { x.check(t); return acc + 1 })
				}
				ranges.Add(1)
				time.Sleep(50 * time.Microsecond)
			}
		})
	}
	opStress(t, shardedFns(), false, func(w int, rng *rand.Rand) {
		var n, sum int64
		for range 200 {
			d := int64(rng.IntN(7)) - 2
			s.Update(func(x *tally) { x.add(t, d) })
			n++
			sum += d
		}
		wantN.Add(n)
		wantSum.Add(sum)
	})
	stop.Store(true)
	wg.Wait()
	n, sum := shardedTotals(t, &s)
	if n != wantN.Load() || sum != wantSum.Load() {
		t.Fatalf("%d updates, sum %d; want %d, %d (lost or duplicated updates)", n, sum, wantN.Load(), wantSum.Load())
	}
	cpu, locked := shardedWhere(&s)
	t.Logf("%d updates (%d on per-CPU shards, %d on locked shards), %d Ranges, %d claims lost to a section in flight (all runs so far)",
		n, cpu, locked, ranges.Load(), shardClaimsLost.Load())
	if shardedRseq() && cpu == 0 {
		t.Error("no update used a per-CPU shard")
	}
	if ranges.Load() < 2 {
		t.Errorf("only %d Ranges ran", ranges.Load())
	}
}

// TestShardedMixedPaths: the locked shards' path (the one stray threads,
// out-of-range indexes and busy CPU shards take) runs at the same time as
// the critical sections; totals stay exact.
func TestShardedMixedPaths(t *testing.T) {
	var s Sharded[tally]
	tab := s.table()
	var wg sync.WaitGroup
	const perG = 20000
	n := 2*runtime.GOMAXPROCS(0) + 2
	for g := range n {
		wg.Go(func() {
			for i := range perG {
				if g%2 == 0 {
					tab.updateLocked(func(x *tally) { x.add(t, int64(i%5)) })
				} else {
					s.Update(func(x *tally) { x.add(t, int64(i%5)) })
				}
			}
		})
	}
	wg.Wait()
	got, sum := shardedTotals(t, &s)
	if want := int64(n * perG); got != want || sum != want*2 {
		t.Fatalf("%d updates, sum %d; want %d, %d", got, sum, want, want*2)
	}
}

// TestShardedBlockedHolder: an Update whose function blocks holds one
// shard; every other Update still completes (those that find that shard
// taken move to a locked shard, proven by the counts), and a Range waits
// for the holder instead of reading its shard mid-update.
func TestShardedBlockedHolder(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		var s Sharded[tally]
		s.table()
		blockedHolder(t, &s)
	})
	t.Run("locked-only", func(t *testing.T) {
		var s Sharded[tally]
		lockedOnly(&s)
		blockedHolder(t, &s)
	})
}

// lockedOnly allocates s's shards as with the fast path off: the locked
// shards alone (rseqop.ModeNone, -tags purego, Linux < 5.10).
func lockedOnly[T any](s *Sharded[T]) {
	fp := proc.fastPath
	proc.fastPath = false
	s.table()
	proc.fastPath = fp
}

func blockedHolder(t *testing.T, s *Sharded[tally]) {
	held, release := make(chan *tally), make(chan struct{})
	holderDone := make(chan struct{})
	go func() {
		defer close(holderDone)
		s.Update(func(x *tally) {
			x.busy = true // Range must not see this shard until it is clear
			held <- x
			<-release
			x.busy = false
			x.n++
		})
	}()
	heldShard := <-held
	onCPUShard := false
	for i := 1; i < len(s.table().cpu); i++ {
		onCPUShard = onCPUShard || heldShard == &s.table().cpu[i].val
	}
	_, lockedBefore := shardedWhere(s) // the holder's shard: x.n not yet counted
	// Others update until one of them has found the held shard taken: on
	// the fast path, until the locked shards got an update (each thread
	// that meets the held shard's CPU or mm_cid moves there).
	var done atomic.Int64
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	for g := range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; ; i++ {
				s.Update(func(x *tally) {
					if x == heldShard {
						t.Error("an Update got the held shard")
					}
					x.add(t, 1)
				})
				done.Add(1)
				if i >= 1000 && (!onCPUShard || lockedShardUpdates(s) > lockedBefore || time.Now().After(deadline)) {
					return
				}
				if g%2 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	if onCPUShard && lockedShardUpdates(s) == lockedBefore {
		t.Errorf("no Update moved to a locked shard in 20 s while a per-CPU shard was held")
	}
	ranged := make(chan int64)
	go func() {
		n, _ := shardedTotals(t, s)
		ranged <- n
	}()
	select {
	case n := <-ranged:
		t.Fatalf("Range finished (%d updates) while an Update held a shard", n)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-holderDone
	if n := <-ranged; n != done.Load()+1 {
		t.Fatalf("Range counted %d updates, want %d", n, done.Load()+1)
	}
	t.Logf("held shard per-CPU %v; %d other updates", onCPUShard, done.Load())
}

// lockedShardUpdates reads the locked shards' counts under their locks.
func lockedShardUpdates(s *Sharded[tally]) (n int64) {
	for i := range s.table().locked {
		s.table().locked[i].visitLocked(func(x *tally) bool { n += x.n; return true })
	}
	return n
}

// TestShardedPanic: a function that panics releases its shard's lock, on
// the per-CPU shards (the thread is pinned, so every call meets the same
// shard) and in Range and All.
func TestShardedPanic(t *testing.T) {
	var s Sharded[tally]
	th := rseqop.Pin()
	defer th.Unpin()
	for i := range 100 {
		func() {
			defer func() {
				if r := recover(); r != fmt.Sprint("boom ", i) {
					t.Fatalf("recovered %v", r)
				}
			}()
			s.Update(func(x *tally) { x.n++; panic(fmt.Sprint("boom ", i)) })
		}()
	}
	if shardedRseq() {
		if cpu, locked := shardedWhere(&s); cpu != 100 || locked != 0 {
			t.Fatalf("per-CPU shards %d, locked shards %d: the panics left a shard locked", cpu, locked)
		}
	}
	for range 3 {
		func() {
			defer func() { recover() }()
			s.Range(func(x *tally) { panic("in Range") })
		}()
		func() {
			defer func() { recover() }()
			for range s.All() {
				panic("in All")
			}
		}()
	}
	s.Update(func(x *tally) { x.n++ })
	if n, _ := shardedTotals(t, &s); n != 101 {
		t.Fatalf("%d updates, want 101", n)
	}
	tab := s.table()
	for i := 1; i < len(tab.cpu); i++ {
		if w := atomic.LoadUint64(&tab.cpu[i].lock); w != shardFree {
			t.Fatalf("shard %d's lock word is %d", i-1, w)
		}
	}
}

// TestShardedNested documents what a nested Update does: it runs on
// another shard (the per-CPU shard is taken, so it moves to a locked one).
func TestShardedNested(t *testing.T) {
	if !shardedRseq() {
		t.Skip("on the locked shards alone a nested Update may deadlock (see Update)")
	}
	var s Sharded[tally]
	th := rseqop.Pin()
	defer th.Unpin()
	s.Update(func(outer *tally) {
		s.Update(func(inner *tally) {
			if inner == outer {
				t.Error("nested Update got the outer shard")
			}
			inner.n++
		})
		outer.n++
	})
	if n, _ := shardedTotals(t, &s); n != 2 {
		t.Fatalf("%d updates, want 2", n)
	}
}

// TestShardedLockedOnly runs the exactness test on a Sharded built while
// the fast path is off: the locked shards alone (what rseqop.ModeNone, -tags
// purego and Linux < 5.10 use).
func TestShardedLockedOnly(t *testing.T) {
	var s Sharded[tally]
	lockedOnly(&s)
	if s.table().limit != 0 {
		t.Fatal("per-CPU shards with the fast path off")
	}
	var wg sync.WaitGroup
	const perG = 20000
	n := 2*runtime.GOMAXPROCS(0) + 1
	for range n {
		wg.Go(func() {
			for range perG {
				s.Update(func(x *tally) { x.add(t, 3) })
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			shardedTotals(t, &s)
		}
	})
	wg.Wait()
	if got, sum := shardedTotals(t, &s); got != int64(n*perG) || sum != 3*got {
		t.Fatalf("%d updates, sum %d; want %d, %d", got, sum, n*perG, 3*n*perG)
	}
}

// TestShardedLargeValue: a T much larger than a cache line, holding
// pointers, survives collections and keeps exact contents.
func TestShardedLargeValue(t *testing.T) {
	type big struct {
		hist [300]int64
		last *[]byte
	}
	var s Sharded[big]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				s.Update(func(b *big) {
					b.hist[(g+i)%300]++
					p := make([]byte, 16)
					b.last = &p
				})
				if i%1000 == 0 {
					runtime.GC()
				}
			}
		})
	}
	wg.Wait()
	var total int64
	s.Range(func(b *big) {
		for _, v := range b.hist {
			total += v
		}
		if b.last != nil && len(*b.last) != 16 {
			t.Error("pointer in a shard corrupted")
		}
	})
	if total != 4*5000 {
		t.Fatalf("histogram total %d, want %d", total, 4*5000)
	}
}

// checkShardedExact is the Sharded part of checkStructuresExact (the mode
// tests' children: no rseq, a CPU with a high id, stray threads).
func checkShardedExact(t *testing.T) {
	t.Helper()
	var s Sharded[tally]
	const perG = 5000
	n := 4*runtime.GOMAXPROCS(0) + 1
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			if g%2 == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			for i := range perG {
				s.Update(func(x *tally) { x.add(t, 2) })
				if i%1000 == 0 {
					shardedTotals(t, &s)
				}
			}
		})
	}
	wg.Wait()
	if got, sum := shardedTotals(t, &s); got != int64(n*perG) || sum != 2*got {
		t.Fatalf("Sharded: %d updates, sum %d; want %d, %d", got, sum, n*perG, 2*n*perG)
	}
	cpu, locked := shardedWhere(&s)
	t.Logf("Sharded: %d updates on per-CPU shards, %d on locked shards", cpu, locked)
}

// TestShardedStrayThreads runs in a child whose rseq registrations start
// failing after start-up: threads created from then on are stray and use
// the locked shards while registered threads keep using their CPU's shard.
func TestShardedStrayThreads(t *testing.T) {
	if !testutil.IsSubprocess() {
		if !shardedRseq() {
			t.Skipf("Sharded on its locked shards: %s", proc.reason)
		}
		if proc.libc.GlibcRegisters() {
			t.Skip("glibc registers rseq: threads cannot be stray")
		}
		testutil.RunSubprocess(t, "TestShardedStrayThreads", nil,
			testutil.SubprocessOptions{Seccomp: testutil.RseqENOSYS, SeccompInPlace: true, Args: []string{"-test.short"}})
		return
	}
	if !shardedRseq() {
		t.Skipf("fast path off: %s", proc.reason)
	}
	// Eight goroutines locked to their threads at once force the runtime
	// to start new threads, which cannot register.
	var s Sharded[tally]
	const locked, perG = 8, 5000
	var all, wg sync.WaitGroup
	all.Add(locked)
	for g := range locked + 2 {
		wg.Go(func() {
			if g < locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				all.Done()
				all.Wait()
			}
			for range perG {
				s.Update(func(x *tally) { x.add(t, 2) })
			}
		})
	}
	wg.Wait()
	if got, sum := shardedTotals(t, &s); got != (locked+2)*perG || sum != 2*got {
		t.Fatalf("%d updates, sum %d; want %d, %d", got, sum, (locked+2)*perG, 2*(locked+2)*perG)
	}
	cpu, lockedN := shardedWhere(&s)
	t.Logf("%d updates on per-CPU shards, %d on locked shards", cpu, lockedN)
	if lockedN == 0 {
		t.Error("no update went to the locked shards")
	}
	stray := 0
	for _, th := range rseqop.Threads() {
		if th.Err != nil {
			stray++
		}
	}
	t.Logf("%d stray threads", stray)
	if stray == 0 {
		t.Error("no stray thread ran an Update")
	}
}

// TestShardedClaimLost drives Range's claims through the case the fence
// exists for: a claimed word that a critical section overwrote (it read 0
// before the swap and committed before the fence returned; played here by
// the fence itself) is not visited, stays with that section's Update and is
// visited once that Update releases it. The claims are released after their
// visit, when the loop body stops early, and when it panics.
func TestShardedClaimLost(t *testing.T) {
	if !shardedRseq() || proc.slots < 2 {
		t.Skip("needs per-CPU shards, two or more")
	}
	var s Sharded[tally]
	tab := s.table()
	w2 := &tab.cpu[2].lock
	defer func(f func()) { shardFence = f }(shardFence)
	overwrite := true
	shardFence = func() {
		if overwrite {
			atomic.StoreUint64(w2, shardLocal) // the section commits 1 over the claim
			overwrite = false
		}
		rseqop.Fence()
	}
	lost := shardClaimsLost.Load()
	for i := range tab.cpu[1:] {
		tab.cpu[1+i].val.n = 1
	}
	done := make(chan int64)
	go func() { n, _ := shardedTotals(t, &s); done <- n }()
	select {
	case n := <-done:
		t.Fatalf("Range finished (total %d) while the section's Update held shard 2", n)
	case <-time.After(20 * time.Millisecond):
	}
	if shardClaimsLost.Load() != lost+1 {
		t.Fatal("the lost claim was not counted")
	}
	for i := range tab.cpu[1:] {
		if w := atomic.LoadUint64(&tab.cpu[1+i].lock); i+1 != 2 && w != shardFree {
			t.Errorf("shard %d: word %d while Range waits for shard 2; want its claim released after the visit", i+1, w)
		}
	}
	tab.cpu[2].val.n = 7
	atomic.StoreUint64(w2, shardFree) // the Update releases
	if n, want := <-done, int64(len(tab.cpu)-1-1+7); n != want {
		t.Fatalf("Range counted %d, want %d", n, want)
	}
	// A body that stops at the first shard, and one that panics: every
	// claim is released.
	for _, visit := range []func(){
		func() {
			for range s.All() {
				break
			}
		},
		func() {
			defer func() { _ = recover() }()
			s.Range(func(*tally) { panic("body") })
		},
	} {
		visit()
		for i := range tab.cpu[1:] {
			if w := atomic.LoadUint64(&tab.cpu[1+i].lock); w != shardFree {
				t.Errorf("after a stopped or panicking visit: shard %d word %d, want free", i+1, w)
			}
		}
	}
}

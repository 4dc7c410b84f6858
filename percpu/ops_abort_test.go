//go:build linux

package percpu

import (
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/rseqop/rseqoptest"
)

// TestOpAbortRestart proves, for every generated function, that its abort
// path restarts the section correctly: one locked thread calls the function
// directly in a tight loop (so that a large share of its time is spent
// inside the section) while another thread interrupts it with rseq fences
// and SIGURG (rseqoptest.AbortRestart), until the function's abort counter
// has moved; then the single-threaded model must hold exactly. Unlike the concurrent model
// tests, this reaches aborts quickly even under TCG emulation, where
// interrupts are only taken between translation blocks.
func TestOpAbortRestart(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	for i := range zopTable {
		t.Run(zopTable[i].Name, func(t *testing.T) {
			if off := hotOff(zopTable[i].Name); off != "" {
				t.Skip(off)
			}
			abortRestart(t, i)
		})
	}
}

func abortRestart(t *testing.T, fi int) {
	want := uint64(3)
	if testing.Short() {
		want = 1 // the emulated VMs take seconds per abort
	}
	rseqoptest.AbortRestart(t, rseqoptest.Options{
		Aborts: func() uint64 { return atomic.LoadUint64(&zopAborts[fi]) },
		Want:   want,
		Max:    60 * time.Second,
	}, func(enough func() bool) error { return tightLoop(fi, enough) })
}

// tightLoop runs generated function fi in batches until enough returns
// true, then checks the op's model. It runs on one registered, locked
// thread, so nothing else touches the slots.
func tightLoop(fi int, enough func() bool) error {
	info := zopTable[fi]
	limit := opLimit()
	const batch = 1000
	okStatus := func(st int, fails int) error {
		if st < zopStatusOK || st > fails {
			return fmt.Errorf("%s: status %d", info.Name, st)
		}
		return nil
	}
	switch info.Op {
	case "LoadAddLoadLoadAddStore":
		base, slots := words(limit)
		arr := base
		ptr := unsafe.Pointer(&arr)
		var n uint64
		for !enough() {
			for range batch {
				var st int
				_, st = zopLoadAddLoadLoadAddStore(ptr, opStride, limit, 1)
				if st != zopStatusOK {
					return fmt.Errorf("%s: status %d", info.Name, st)
				}
			}
			n += batch
		}
		var sum uint64
		for i := range limit {
			sum += slots[i*opStride/8]
		}
		if sum != n {
			return fmt.Errorf("%s: slots sum to %d after %d adds (an abort lost or repeated an add)", info.Name, sum, n)
		}
	case "LoadCbneStore":
		base, slots := words(limit)
		var n uint64
		idx := uintptr(0)
		for !enough() {
			for range batch {
				expect := uintptr(slots[idx*opStride/8])
				var st int
				idx, st = zopLoadCbneStore(base, opStride, limit, expect, expect+1)
				if err := okStatus(st, 1); err != nil {
					return err
				}
				if st != zopStatusOK {
					continue
				}
				n++
			}
		}
		var sum uint64
		for i := range limit {
			sum += slots[i*opStride/8]
		}
		if sum != n {
			return fmt.Errorf("%s: slots sum to %d after %d commits", info.Name, sum, n)
		}
	case "PoolPop", "PoolPush":
		return poolTightLoop(info.Name, limit, enough)
	case "CounterAdd":
		var c Counter
		var n int64
		for !enough() {
			for range batch {
				c.Add(1)
			}
			n += batch
		}
		if got := c.Load(); got != n {
			return fmt.Errorf("%s: Load = %d after %d adds (an abort lost or repeated an add)", info.Name, got, n)
		}
		if _, over := c.PerSlot(); over != 0 {
			return fmt.Errorf("%s: %d adds went to the overflow slot", info.Name, over)
		}
	case "Float64CounterAdd":
		// Halves are exact in float64: any lost or repeated add shows.
		var c Float64Counter
		var n float64
		for !enough() {
			for range batch {
				c.Add(0.5)
			}
			n += batch * 0.5
		}
		if got := c.Load(); got != n {
			return fmt.Errorf("%s: Load = %g after adds of %g (an abort lost or repeated an add)", info.Name, got, n)
		}
	case "LoadLoadFAddStore":
		base, slots := arenaWords(limit)
		ptr := unsafe.Pointer(&base)
		var n float64
		for !enough() {
			for range batch {
				if _, st := zopLoadLoadFAddStore(ptr, arenaRegion, limit, 0.25); st != zopStatusOK {
					return fmt.Errorf("%s: status %d", info.Name, st)
				}
			}
			n += batch * 0.25
		}
		var sum float64
		for i := range limit {
			sum += math.Float64frombits(slots[i*arenaColumns])
		}
		if sum != n {
			return fmt.Errorf("%s: words sum to %g after adds of %g", info.Name, sum, n)
		}
	case "PoolGet", "PoolPut":
		return hotPoolTightLoop(info.Name, int(limit), enough)
	case "ShardLock":
		// Update's lock, through Sharded.Update: one thread, so the
		// shard is never found taken and every update must land on a
		// per-CPU shard, exactly once.
		var s Sharded[int64]
		var n int64
		for !enough() {
			for range batch {
				s.Update(func(x *int64) { *x++ })
			}
			n += batch
		}
		t := s.table()
		var cpu, locked int64
		for i := 1; i < len(t.cpu); i++ {
			cpu += t.cpu[i].val
		}
		for i := range t.locked {
			locked += t.locked[i].val
		}
		if cpu != n || locked != 0 {
			return fmt.Errorf("%s: %d updates on per-CPU shards, %d on locked shards, want %d and 0 (an abort lost or repeated a lock)", info.Name, cpu, locked, n)
		}
	default:
		return fmt.Errorf("no tight loop for op %s: add a case to tightLoop (gen/README.md)", info.Op)
	}
	return nil
}

// poolTightLoop pops and pushes tokens on the caches of one thread, whose
// slot changes only when it migrates; every token must stay in exactly one
// place (a cache or the loop's hands).
func poolTightLoop(fn string, limit uintptr, enough func() bool) error {
	c := newTestCaches(limit)
	// Every slot starts with tokens: the thread's index (mm_cid
	// especially) need not be 0.
	const perSlot = 4
	objs := make([]int, int(limit)*perSlot)
	for k := range objs {
		objs[k] = k
		i := uintptr(k / perSlot)
		c.region(i)[*c.count(i)] = &objs[k]
		*c.count(i)++
	}
	var wbOff uint32 // the write barrier flag PoolPush sees: off
	wb := unsafe.Pointer(&wbOff)
	var held []unsafe.Pointer
	for !enough() {
		for range 200 {
			// Pop two, push them back, keeping what does not fit.
			for range 2 {
				x, _, st := c.pop(-1)
				if st == zopStatusOK {
					held = append(held, x)
				} else if st != 1 {
					return fmt.Errorf("%s: PoolPop status %d", fn, st)
				}
			}
			for len(held) > 0 {
				_, st := c.push(-1, held[len(held)-1], wb)
				if st != zopStatusOK {
					if st != 1 {
						return fmt.Errorf("%s: PoolPush status %d", fn, st)
					}
					break
				}
				held = held[:len(held)-1]
			}
		}
	}
	if err := c.tokens(objs, held); err != nil {
		return fmt.Errorf("%s: %v", fn, err)
	}
	return nil
}

// hotOff says why the hot op fn cannot run here ("" if it can).
func hotOff(fn string) string {
	switch {
	case fn == "counterAdd" && counterSlots == 0:
		return "counterAdd is off (Counter on its fallback)"
	case (fn == "poolGet" || fn == "poolPut") && poolSlots == 0:
		return "the pool's hot ops are off (no fast path)"
	case fn == "shardLock" && shardedSlots == 0:
		return "shardLock is off (Sharded on its locked shards)"
	}
	return ""
}

// hotPoolTightLoop gets and puts tokens through Pool.Get and Pool.Put (the
// hot ops poolGet and poolPut) on one thread. Every token must end up in
// exactly one place (the pool or the loop's hands), except the ones an
// aborted poolGet dropped: at most one per poolGet abort.
func hotPoolTightLoop(fn string, limit int, enough func() bool) error {
	p := &Pool[int]{PerCPU: 8}
	objs := make([]int, 4*limit+8)
	for k := range objs {
		objs[k] = k
		p.Put(&objs[k])
	}
	abortsBefore := hotAborts("poolGet")
	var held []*int
	for !enough() {
		for range 200 {
			for range 2 {
				if x, ok := p.Get(); ok {
					held = append(held, x)
				}
			}
			for len(held) > 0 {
				p.Put(held[len(held)-1])
				held = held[:len(held)-1]
			}
		}
	}
	s := p.storage()
	seen := map[*int]bool{}
	for _, x := range append(s.pooled(), held...) {
		if x == nil {
			continue // a hole (checked below)
		}
		if seen[x] {
			return fmt.Errorf("%s: token %d twice", fn, *x)
		}
		if *x < 0 || *x >= len(objs) || x != &objs[*x] {
			return fmt.Errorf("%s: %p is not a token", fn, x)
		}
		seen[x] = true
	}
	lost, aborts := len(objs)-len(seen), hotAborts("poolGet")-abortsBefore
	if uint64(lost) > aborts {
		return fmt.Errorf("%s: %d of %d tokens lost, and poolGet aborted %d times", fn, lost, len(objs), aborts)
	}
	return s.fast.checkSlots()
}

// arenaWords returns n regions of the arena's layout (arenaRegion bytes
// apart) in Go memory: the first word of each region is one slot.
func arenaWords(n uintptr) (unsafe.Pointer, []uint64) {
	s := make([]uint64, n*arenaColumns)
	return unsafe.Pointer(&s[0]), s
}

package percpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"golang.org/x/sys/unix"
)

// TestOpAbortRestart proves, for every generated function, that its abort
// path restarts the section correctly: one locked thread calls the function
// directly in a tight loop (so that a large share of its time is spent
// inside the section) while another thread interrupts it with rseq fences
// and SIGURG, until the function's abort counter has moved; then the
// single-threaded model must hold exactly. Unlike the concurrent model
// tests, this reaches aborts quickly even under TCG emulation, where
// interrupts are only taken between translation blocks.
func TestOpAbortRestart(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	for i := range zopTable {
		t.Run(zopTable[i].fn, func(t *testing.T) { abortRestart(t, i) })
	}
}

func abortRestart(t *testing.T, fi int) {
	maxDur := 60 * time.Second
	before := atomic.LoadUint64(&zopAborts[fi])
	want := uint64(3)
	if testing.Short() {
		want = 1 // the emulated VMs take seconds per abort
	}
	moved := func() bool { return atomic.LoadUint64(&zopAborts[fi])-before >= want }
	var stop atomic.Bool
	var tid atomic.Int64
	var wg sync.WaitGroup
	var interrupts atomic.Int64
	wg.Add(1)
	go func() { // the interrupter
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pid := unix.Getpid()
		for i := 0; !stop.Load(); i++ {
			if proc.fenceErr == nil && i%2 == 0 {
				rseqabi.MembarrierRseqFence()
			} else if w := tid.Load(); w != 0 {
				unix.Tgkill(pid, int(w), unix.SIGURG)
			}
			interrupts.Add(1)
		}
	}()
	var err error
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if !registerThisThread() {
			err = fmt.Errorf("cannot register the worker thread")
			return
		}
		tid.Store(int64(unix.Gettid()))
		err = tightLoop(fi, func() bool { return moved() || time.Since(start) > maxDur })
	}()
	<-done
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	n := atomic.LoadUint64(&zopAborts[fi]) - before
	t.Logf("%d aborts in %v, %d interruptions", n, time.Since(start).Round(time.Millisecond), interrupts.Load())
	if n == 0 {
		t.Errorf("%s never aborted in %v", zopTable[fi].fn, maxDur)
	}
}

// tightLoop runs generated function fi in batches until enough returns
// true, then checks the op's model. It runs on one registered, locked
// thread, so nothing else touches the slots.
func tightLoop(fi int, enough func() bool) error {
	info := zopTable[fi]
	mm := info.index == "mm_cid"
	limit := opLimit()
	const batch = 1000
	okStatus := func(st int, fails int) error {
		if st < statusOK || st > fails {
			return fmt.Errorf("%s: status %d", info.fn, st)
		}
		return nil
	}
	switch info.op {
	case "LoadAddStore", "LoadAddLoadLoadAddStore":
		base, slots := words(limit)
		arr := base
		ptr := unsafe.Pointer(&arr)
		var n uint64
		for !enough() {
			for range batch {
				var st int
				switch {
				case info.op == "LoadAddStore" && mm:
					_, st = opLoadAddStoreMMCID(base, opStride, limit, 1)
				case info.op == "LoadAddStore":
					_, st = opLoadAddStoreCPU(base, opStride, limit, 1)
				case mm:
					_, st = opLoadAddLoadLoadAddStoreMMCID(ptr, opStride, limit, 1)
				default:
					_, st = opLoadAddLoadLoadAddStoreCPU(ptr, opStride, limit, 1)
				}
				if st != statusOK {
					return fmt.Errorf("%s: status %d", info.fn, st)
				}
			}
			n += batch
		}
		var sum uint64
		for i := range limit {
			sum += slots[i*opStride/8]
		}
		if sum != n {
			return fmt.Errorf("%s: slots sum to %d after %d adds (an abort lost or repeated an add)", info.fn, sum, n)
		}
	case "LoadCbneStore", "LoadCbneStoreStore", "LoadCbneMemcpyStore":
		base, slots := words(limit)
		var src [4]uint64
		var n uint64
		idx := uintptr(0)
		for !enough() {
			for range batch {
				expect := uintptr(slots[idx*opStride/8])
				var st int
				switch {
				case info.op == "LoadCbneStore" && mm:
					idx, st = opLoadCbneStoreMMCID(base, opStride, limit, expect, expect+1)
				case info.op == "LoadCbneStore":
					idx, st = opLoadCbneStoreCPU(base, opStride, limit, expect, expect+1)
				case info.op == "LoadCbneStoreStore" && mm:
					idx, st = opLoadCbneStoreStoreMMCID(base, opStride, limit, expect, 8, expect+1, expect+1)
				case info.op == "LoadCbneStoreStore":
					idx, st = opLoadCbneStoreStoreCPU(base, opStride, limit, expect, 8, expect+1, expect+1)
				default:
					for i := range src {
						src[i] = uint64(expect + 1)
					}
					if mm {
						idx, st = opLoadCbneMemcpyStoreMMCID(base, opStride, limit, expect, 8, unsafe.Pointer(&src), 32, expect+1)
					} else {
						idx, st = opLoadCbneMemcpyStoreCPU(base, opStride, limit, expect, 8, unsafe.Pointer(&src), 32, expect+1)
					}
				}
				if err := okStatus(st, 1); err != nil {
					return err
				}
				if st == statusOK {
					n++
				}
			}
		}
		var sum uint64
		for i := range limit {
			s := slots[i*opStride/8 : i*opStride/8+5]
			sum += s[0]
			switch info.op {
			case "LoadCbneStoreStore":
				if s[1] != s[0] {
					return fmt.Errorf("%s: slot %d second word %d, want %d", info.fn, i, s[1], s[0])
				}
			case "LoadCbneMemcpyStore":
				for _, x := range s[1:] {
					if x != s[0] {
						return fmt.Errorf("%s: slot %d record %v, want all %d", info.fn, i, s[1:], s[0])
					}
				}
			}
		}
		if sum != n {
			return fmt.Errorf("%s: slots sum to %d after %d commits", info.fn, sum, n)
		}
	case "LoadCbeqStoreAddLoadStore":
		const nodes = 8
		mem, err := unix.Mmap(-1, 0, nodes*16+int(limit)*opStride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			return err
		}
		defer unix.Munmap(mem)
		heads := unsafe.Pointer(&mem[nodes*16])
		head := func(i uintptr) *unsafe.Pointer { return (*unsafe.Pointer)(unsafe.Add(heads, i*opStride)) }
		for i := range nodes {
			n := (*listNode)(unsafe.Pointer(&mem[i*16]))
			n.id = uint64(i)
			h := head(uintptr(i) % limit)
			n.next, *h = *h, unsafe.Pointer(n)
		}
		voff := unsafe.Offsetof(listNode{}.next)
		for !enough() {
			for range batch {
				var h unsafe.Pointer
				var idx uintptr
				var st int
				if mm {
					h, idx, st = opLoadCbeqStoreAddLoadStoreMMCID(heads, opStride, limit, nil, voff)
				} else {
					h, idx, st = opLoadCbeqStoreAddLoadStoreCPU(heads, opStride, limit, nil, voff)
				}
				if err := okStatus(st, 1); err != nil {
					return err
				}
				if st != statusOK {
					continue
				}
				n := (*listNode)(h)
				for { // push it back (the lists are this thread's alone)
					old := *head(idx)
					n.next = old
					if mm {
						idx, st = opLoadCbneStoreMMCID(heads, opStride, limit, uintptr(old), uintptr(h))
					} else {
						idx, st = opLoadCbneStoreCPU(heads, opStride, limit, uintptr(old), uintptr(h))
					}
					if st == statusOK {
						break
					}
					if err := okStatus(st, 1); err != nil {
						return err
					}
				}
			}
		}
		count := 0
		for i := range limit {
			for p := *head(i); p != nil; p = (*listNode)(p).next {
				if count++; count > nodes {
					return fmt.Errorf("%s: list cycle or duplicate", info.fn)
				}
			}
		}
		if count != nodes {
			return fmt.Errorf("%s: %d nodes in the lists, want %d", info.fn, count, nodes)
		}
	case "PoolPop", "PoolPopClaim", "PoolClaimFree", "PoolPushFull", "PoolPushFree", "PoolPut":
		// Cycle entries through all six pool ops.
		return poolTightLoop(info.fn, mm, limit, enough)
	default:
		return fmt.Errorf("no tight loop for op %s: add a case to tightLoop (gen/README.md)", info.op)
	}
	return nil
}

func poolTightLoop(fn string, mm bool, limit uintptr, enough func() bool) error {
	slab := make([]uint64, limit*poolTestStride/8)
	base := unsafe.Pointer(&slab[0])
	// Every slab starts with perSlab free entries: the worker's index
	// (mm_cid especially) need not be 0, and with all entries on slab 0 a
	// thread indexed 1 found nothing to claim, so PoolPopClaim never
	// succeeded and PoolPushFree never ran (seen: "never aborted in 1m0s").
	const perSlab = 4
	m := int(limit) * perSlab
	objs := make([]int, m)
	entries := make([]*int, m)
	for i := range entries {
		entries[i] = &objs[i]
	}
	ent := unsafe.Pointer(&entries[0])
	var wbOff uint32 // the write barrier flag PoolPut sees: off
	wb := unsafe.Pointer(&wbOff)
	u32 := func(i uintptr, off, k uintptr) *uint32 {
		return (*uint32)(unsafe.Add(base, i*poolTestStride+off+4*k))
	}
	for e := range m {
		i, k := uintptr(e/perSlab), uintptr(e%perSlab)
		*u32(i, poolTestFreeOff, k) = uint32(e)
		slab[i*poolTestStride/8] += 1 << 32
	}
	var owned []uintptr
	for !enough() {
		for range 200 {
			var e uintptr
			var x unsafe.Pointer
			var st int
			if mm {
				e, _, st = opPoolClaimFreeMMCID(base, poolTestStride, limit, poolTestFreeOff)
			} else {
				e, _, st = opPoolClaimFreeCPU(base, poolTestStride, limit, poolTestFreeOff)
			}
			if st == statusOK {
				owned = append(owned, e)
			}
			for len(owned) > 0 {
				e = owned[len(owned)-1]
				if mm {
					_, st = opPoolPushFullMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
				} else {
					_, st = opPoolPushFullCPU(base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
				}
				if st != statusOK {
					break
				}
				owned = owned[:len(owned)-1]
			}
			if mm {
				x, e, _, st = opPoolPopMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent)
			} else {
				x, e, _, st = opPoolPopCPU(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent)
			}
			if st == statusOK {
				if x != unsafe.Pointer(entries[e]) {
					return fmt.Errorf("%s: PoolPop gave entry %d object %p, want %p", fn, e, x, entries[e])
				}
				// Put the object back in one section (a token whose
				// put fails is dropped: only full entries count).
				if mm {
					_, st = opPoolPutMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, x, wb)
				} else {
					_, st = opPoolPutCPU(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, x, wb)
				}
				if st < statusOK || st > 2 {
					return fmt.Errorf("%s: PoolPut status %d", fn, st)
				}
			}
			if mm {
				e, _, st = opPoolClaimFreeMMCID(base, poolTestStride, limit, poolTestFreeOff)
			} else {
				e, _, st = opPoolClaimFreeCPU(base, poolTestStride, limit, poolTestFreeOff)
			}
			if st == statusOK {
				if mm {
					_, st = opPoolPushFullMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
				} else {
					_, st = opPoolPushFullCPU(base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
				}
				if st != statusOK {
					owned = append(owned, e)
				}
			}
			if mm {
				x, e, _, st = opPoolPopClaimMMCID(base, poolTestStride, limit, poolTestFullOff, ent)
			} else {
				x, e, _, st = opPoolPopClaimCPU(base, poolTestStride, limit, poolTestFullOff, ent)
			}
			if st == statusOK {
				if x != unsafe.Pointer(entries[e]) {
					return fmt.Errorf("%s: PoolPopClaim gave entry %d object %p, want %p", fn, e, x, entries[e])
				}
				if mm {
					_, st = opPoolPushFreeMMCID(base, poolTestStride, limit, poolTestFreeOff, poolTestCap, e)
				} else {
					_, st = opPoolPushFreeCPU(base, poolTestStride, limit, poolTestFreeOff, poolTestCap, e)
				}
				if st != statusOK {
					owned = append(owned, e)
				}
			}
		}
	}
	seen := make([]int, m)
	for _, e := range owned {
		seen[e]++
	}
	for i := range limit {
		tops := slab[i*poolTestStride/8]
		ft, fr := uintptr(tops&0xffffffff), uintptr(tops>>32)
		if ft > poolTestCap || fr > poolTestCap {
			return fmt.Errorf("%s: slab %d tops full %d free %d", fn, i, ft, fr)
		}
		for k := range ft {
			seen[*u32(i, poolTestFullOff, k)]++
		}
		for k := range fr {
			seen[*u32(i, poolTestFreeOff, k)]++
		}
	}
	for e, n := range seen {
		if n != 1 {
			return fmt.Errorf("%s: entry %d held %d times", fn, e, n)
		}
	}
	return nil
}

package percpu

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tests of the generated per-CPU ops (gen/ops): every op, in both index
// variants and on its fallback, against a model, under forced aborts
// (opStress). They run the same way on amd64, on arm64 under
// qemu-system-aarch64 (internal/vmtest) and, with the fast path off
// (purego, ModeNone, qemu-user), on the fallbacks alone.

const opStride = 64 // one cache line per slot

func opLimit() uintptr { return uintptr(max(proc.slots, 1)) }

// opVariants are the subtests every op runs: the two index variants and
// the fallback alone.
var opVariants = []string{"CPU", "MMCID", "Fallback"}

func forVariants(t *testing.T, op string, run func(t *testing.T, mmcid, fallback bool, fns []string)) {
	for _, v := range opVariants {
		t.Run(v, func(t *testing.T) {
			skipMMCID(t, v)
			fns := []string{"op" + op + v}
			if v == "Fallback" {
				fns = nil
			}
			run(t, v == "MMCID", v == "Fallback", fns)
		})
	}
}

// skipMMCID skips the concurrent MMCID variant where the kernel does not
// fill mm_cid (before Linux 6.3): every thread would read the same index on
// different CPUs, so the section would not be exclusive (which is why the
// library only uses the MMCID functions when proc.useMMCID).
func skipMMCID(t *testing.T, variant string) {
	if variant == "MMCID" && opFastPath() && !proc.features.HasMMCID() {
		t.Skip("the kernel does not fill mm_cid")
	}
}

func words(n uintptr) (unsafe.Pointer, []uint64) {
	s := make([]uint64, n*opStride/8)
	return unsafe.Pointer(&s[0]), s
}

func TestOpLoadAddStore(t *testing.T) {
	forVariants(t, "LoadAddStore", func(t *testing.T, mmcid, fb bool, fns []string) {
		limit := opLimit()
		base, slots := words(limit)
		var total atomic.Int64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var sum int64
			for range 100 {
				inc := int64(rng.IntN(5)) - 1
				st := opDo(limit, fb, func() int {
					var st int
					if mmcid {
						_, st = opLoadAddStoreMMCID(base, opStride, limit, inc)
					} else {
						_, st = opLoadAddStoreCPU(base, opStride, limit, inc)
					}
					return st
				}, func(shard uintptr) int {
					_, st := fallbackLoadAddStore(shard, base, opStride, limit, inc)
					return st
				})
				if st != statusOK {
					t.Errorf("status %d", st)
					return
				}
				sum += inc
			}
			total.Add(sum)
		})
		var got int64
		for i := range limit {
			got += int64(slots[i*opStride/8])
		}
		if got != total.Load() {
			t.Errorf("slots sum to %d, want %d", got, total.Load())
		}
	})
}

func TestOpLoadAddLoadLoadAddStore(t *testing.T) {
	forVariants(t, "LoadAddLoadLoadAddStore", func(t *testing.T, mmcid, fb bool, fns []string) {
		limit := opLimit()
		arr, slots := words(limit)
		ptr := unsafe.Pointer(&arr)
		var total atomic.Int64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var n int64
			for range 100 {
				st := opDo(limit, fb, func() int {
					var st int
					if mmcid {
						_, st = opLoadAddLoadLoadAddStoreMMCID(ptr, opStride, limit, 1)
					} else {
						_, st = opLoadAddLoadLoadAddStoreCPU(ptr, opStride, limit, 1)
					}
					return st
				}, func(shard uintptr) int {
					_, st := fallbackLoadAddLoadLoadAddStore(shard, ptr, opStride, limit, 1)
					return st
				})
				if st != statusOK {
					t.Errorf("status %d", st)
					return
				}
				n++
			}
			total.Add(n)
		})
		var got int64
		for i := range limit {
			got += int64(slots[i*opStride/8])
		}
		if got != total.Load() {
			t.Errorf("slots sum to %d, want %d", got, total.Load())
		}
	})
}

// casWord guesses the slot the op will use (the last idx) and returns the
// expected value there.
func casWord(slots []uint64, guess uintptr) uint64 {
	return atomic.LoadUint64(&slots[guess*opStride/8])
}

func TestOpLoadCbneStore(t *testing.T) {
	forVariants(t, "LoadCbneStore", func(t *testing.T, mmcid, fb bool, fns []string) {
		limit := opLimit()
		base, slots := words(limit)
		var total, fails atomic.Int64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var n, nf int64
			guess := uintptr(w) % limit
			for range 100 {
				expect := uintptr(casWord(slots, guess))
				var idx uintptr
				st := opDo(limit, fb, func() int {
					var st int
					if mmcid {
						idx, st = opLoadCbneStoreMMCID(base, opStride, limit, expect, expect+1)
					} else {
						idx, st = opLoadCbneStoreCPU(base, opStride, limit, expect, expect+1)
					}
					return st
				}, func(shard uintptr) int {
					var st int
					idx, st = fallbackLoadCbneStore(shard, base, opStride, limit, expect, expect+1)
					return st
				})
				switch st {
				case statusOK:
					n++
				case 1:
					nf++
				default:
					t.Errorf("status %d", st)
					return
				}
				guess = idx
			}
			total.Add(n)
			fails.Add(nf)
		})
		var got int64
		for i := range limit {
			got += int64(slots[i*opStride/8])
		}
		if got != total.Load() || total.Load() == 0 {
			t.Errorf("slots sum to %d, want %d successful compare-and-sets (> 0)", got, total.Load())
		}
		t.Logf("%d committed, %d failed", total.Load(), fails.Load())
	})
}

func TestOpLoadCbneStoreStore(t *testing.T) {
	forVariants(t, "LoadCbneStoreStore", func(t *testing.T, mmcid, fb bool, fns []string) {
		limit := opLimit()
		base, slots := words(limit)
		var total atomic.Int64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var n int64
			guess := uintptr(w) % limit
			for range 100 {
				expect := uintptr(casWord(slots, guess))
				var idx uintptr
				st := opDo(limit, fb, func() int {
					var st int
					if mmcid {
						idx, st = opLoadCbneStoreStoreMMCID(base, opStride, limit, expect, 8, expect+1, expect+1)
					} else {
						idx, st = opLoadCbneStoreStoreCPU(base, opStride, limit, expect, 8, expect+1, expect+1)
					}
					return st
				}, func(shard uintptr) int {
					var st int
					idx, st = fallbackLoadCbneStoreStore(shard, base, opStride, limit, expect, 8, expect+1, expect+1)
					return st
				})
				if st == statusOK {
					n++
				} else if st != 1 {
					t.Errorf("status %d", st)
					return
				}
				guess = idx
			}
			total.Add(n)
		})
		var got int64
		for i := range limit {
			v, v2 := slots[i*opStride/8], slots[i*opStride/8+1]
			got += int64(v)
			if v2 != v {
				t.Errorf("slot %d: second word %d, want %d (the committed value)", i, v2, v)
			}
		}
		if got != total.Load() || total.Load() == 0 {
			t.Errorf("slots sum to %d, want %d (> 0)", got, total.Load())
		}
	})
}

func TestOpLoadCbneMemcpyStore(t *testing.T) {
	forVariants(t, "LoadCbneMemcpyStore", func(t *testing.T, mmcid, fb bool, fns []string) {
		limit := opLimit()
		base, slots := words(limit)
		var total atomic.Int64
		var srcs [64][4]uint64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var n int64
			guess := uintptr(w) % limit
			src := &srcs[w%len(srcs)] // workers w and w+64 never run at once here
			for range 100 {
				expect := uintptr(casWord(slots, guess))
				for i := range src {
					src[i] = uint64(expect + 1)
				}
				sp := unsafe.Pointer(src)
				var idx uintptr
				st := opDo(limit, fb, func() int {
					var st int
					if mmcid {
						idx, st = opLoadCbneMemcpyStoreMMCID(base, opStride, limit, expect, 8, sp, 32, expect+1)
					} else {
						idx, st = opLoadCbneMemcpyStoreCPU(base, opStride, limit, expect, 8, sp, 32, expect+1)
					}
					return st
				}, func(shard uintptr) int {
					var st int
					idx, st = fallbackLoadCbneMemcpyStore(shard, base, opStride, limit, expect, 8, sp, 32, expect+1)
					return st
				})
				if st == statusOK {
					n++
				} else if st != 1 {
					t.Errorf("status %d", st)
					return
				}
				guess = idx
			}
			total.Add(n)
		})
		var got int64
		for i := range limit {
			s := slots[i*opStride/8 : i*opStride/8+5]
			got += int64(s[0])
			for _, x := range s[1:] {
				if x != s[0] {
					t.Errorf("slot %d: record %v, want every word = count %d", i, s[1:], s[0])
					break
				}
			}
		}
		if got != total.Load() || total.Load() == 0 {
			t.Errorf("counts sum to %d, want %d (> 0)", got, total.Load())
		}
	})
}

// listNode lives off the Go heap (mmap): asm stores its address into the
// list heads without write barriers.
type listNode struct {
	next unsafe.Pointer
	id   uint64
}

func TestOpLoadCbeqStoreAddLoadStore(t *testing.T) {
	forVariants(t, "LoadCbeqStoreAddLoadStore", func(t *testing.T, mmcid, fb bool, fns []string) {
		if !fb {
			fns = append(fns, "opLoadCbneStore"+map[bool]string{false: "CPU", true: "MMCID"}[mmcid])
		}
		limit := opLimit()
		const nodes = 256
		mem, err := unix.Mmap(-1, 0, nodes*16+int(limit)*opStride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(mem)
		heads := unsafe.Pointer(&mem[nodes*16])
		head := func(i uintptr) *unsafe.Pointer { return (*unsafe.Pointer)(unsafe.Add(heads, i*opStride)) }
		node := func(i int) *listNode { return (*listNode)(unsafe.Pointer(&mem[i*16])) }
		for i := range nodes {
			n := node(i)
			n.id = uint64(i)
			h := head(uintptr(i) % limit)
			n.next, *h = *h, unsafe.Pointer(n)
		}
		voff := unsafe.Offsetof(listNode{}.next)
		pop := func() (*listNode, uintptr) {
			var h unsafe.Pointer
			var idx uintptr
			st := opDo(limit, fb, func() int {
				var st int
				if mmcid {
					h, idx, st = opLoadCbeqStoreAddLoadStoreMMCID(heads, opStride, limit, nil, voff)
				} else {
					h, idx, st = opLoadCbeqStoreAddLoadStoreCPU(heads, opStride, limit, nil, voff)
				}
				return st
			}, func(shard uintptr) int {
				var st int
				h, idx, st = fallbackLoadCbeqStoreAddLoadStore(shard, heads, opStride, limit, nil, voff)
				return st
			})
			if st != statusOK && st != 1 {
				t.Errorf("pop: status %d", st)
			}
			return (*listNode)(h), idx
		}
		push := func(n *listNode, guess uintptr) {
			for {
				old := atomic.LoadPointer(head(guess))
				atomic.StorePointer(&n.next, old)
				var idx uintptr
				st := opDo(limit, fb, func() int {
					var st int
					if mmcid {
						idx, st = opLoadCbneStoreMMCID(heads, opStride, limit, uintptr(old), uintptr(unsafe.Pointer(n)))
					} else {
						idx, st = opLoadCbneStoreCPU(heads, opStride, limit, uintptr(old), uintptr(unsafe.Pointer(n)))
					}
					return st
				}, func(shard uintptr) int {
					var st int
					idx, st = fallbackLoadCbneStore(shard, heads, opStride, limit, uintptr(old), uintptr(unsafe.Pointer(n)))
					return st
				})
				if st == statusOK {
					return
				}
				if st != 1 {
					t.Errorf("push: status %d", st)
					return
				}
				guess = idx
			}
		}
		var pops atomic.Int64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var held []*listNode
			guess := uintptr(0)
			for range 50 {
				if n, idx := pop(); n != nil {
					held = append(held, n)
					guess = idx
					pops.Add(1)
				}
				if len(held) > 0 && (rng.IntN(2) == 0 || len(held) > 4) {
					push(held[len(held)-1], guess)
					held = held[:len(held)-1]
				}
			}
			for _, n := range held {
				push(n, guess)
			}
		})
		seen := make([]bool, nodes)
		count := 0
		for i := range limit {
			for p := *head(i); p != nil; p = (*listNode)(p).next {
				id := (*listNode)(p).id
				if id >= nodes || seen[id] {
					t.Fatalf("list %d: node %d twice or corrupt", i, id)
				}
				seen[id] = true
				count++
			}
		}
		if count != nodes || pops.Load() == 0 {
			t.Errorf("%d nodes in the lists after %d pops, want %d", count, pops.Load(), nodes)
		}
	})
}

// Pool slab layout for the test: tops at 0, full [poolTestCap]uint32 at 8,
// free [poolTestCap]uint32 after it.
const (
	poolTestCap     = 16
	poolTestFullOff = 8
	poolTestFreeOff = 8 + 4*poolTestCap
	poolTestStride  = 8 + 8*poolTestCap // 136: not a power of two on purpose
)

func TestOpPool(t *testing.T) {
	for _, v := range opVariants {
		t.Run(v, func(t *testing.T) {
			skipMMCID(t, v)
			testOpPool(t, v == "MMCID", v == "Fallback")
		})
	}
}

// testOpPool drives the six pool ops concurrently on shared slabs. Objects
// are tokens (objs[k] holds k); an entry on a full stack holds a token, a
// worker holds the tokens it popped and the entry indices it claimed. At the
// end every index is in exactly one place (a stack or a worker) and every
// token is in exactly one place (an entry on a full stack or a worker), and
// no token was ever handed to two workers at once.
func testOpPool(t *testing.T, mmcid, fb bool) {
	suffix := map[bool]string{false: "CPU", true: "MMCID"}[mmcid]
	var fns []string
	if !fb {
		for _, op := range []string{"PoolPop", "PoolPopClaim", "PoolClaimFree", "PoolPushFull", "PoolPushFree", "PoolPut"} {
			fns = append(fns, "op"+op+suffix)
		}
	}
	limit := opLimit()
	slab := make([]uint64, limit*poolTestStride/8)
	base := unsafe.Pointer(&slab[0])
	m := int(limit) * poolTestCap / 2
	objs := make([]int, m)
	entries := make([]*int, m)
	var loose []unsafe.Pointer // tokens no entry holds at the start
	for i := range entries {
		objs[i] = i
	}
	ent := unsafe.Pointer(&entries[0])
	var wbOff uint32 // a write barrier flag that stays off: PoolPut never fails with 3 here
	wb := unsafe.Pointer(&wbOff)
	u32 := func(i uintptr, off, k uintptr) *uint32 {
		return (*uint32)(unsafe.Add(base, i*poolTestStride+off+4*k))
	}
	for e := range m {
		i := uintptr(e) % limit
		tops := &slab[i*poolTestStride/8]
		ft, fr := uintptr(*tops&0xffffffff), uintptr(*tops>>32)
		if e%2 == 0 {
			entries[e] = &objs[e]
			*u32(i, poolTestFullOff, ft) = uint32(e)
			*tops++
		} else {
			loose = append(loose, unsafe.Pointer(&objs[e]))
			*u32(i, poolTestFreeOff, fr) = uint32(e)
			*tops += 1 << 32
		}
	}
	// The race detector cannot see the sections order a worker's write of
	// entries[e] before the next holder's: race builds add the edges, as
	// the Pool does.
	var raceSync atomic.Uint64
	run := func(fast func() int, fallback func(shard uintptr) int) int {
		if raceEnabled {
			raceSync.Add(1)
		}
		st := opDo(limit, fb, fast, fallback)
		if st < statusOK || st > 2 {
			t.Errorf("status %d", st)
		}
		if raceEnabled {
			raceSync.Add(1)
		}
		return st
	}
	type holding struct {
		idx []uint32
		tok []unsafe.Pointer
	}
	var owned sync.Map // worker -> *holding left at the end
	var ops atomic.Int64
	tokenHeld := make([]atomic.Bool, m)
	take := func(x unsafe.Pointer, e uintptr, h *holding) {
		if e >= uintptr(m) {
			t.Errorf("popped entry %d of %d", e, m)
			return
		}
		k := *(*int)(x)
		if k < 0 || k >= m || x != unsafe.Pointer(&objs[k]) {
			t.Errorf("popped entry %d: %p is not a token", e, x)
			return
		}
		if tokenHeld[k].Swap(true) {
			t.Errorf("token %d handed out twice (popped from entry %d)", k, e)
		}
		h.tok = append(h.tok, x)
	}
	// give stops holding the last token before an op publishes it;
	// back undoes that when the op failed.
	give := func(h *holding) unsafe.Pointer {
		x := h.tok[len(h.tok)-1]
		tokenHeld[*(*int)(x)].Store(false)
		return x
	}
	back := func(x unsafe.Pointer) { tokenHeld[*(*int)(x)].Store(true) }
	opStress(t, fns, fb, func(w int, rng *rand.Rand) {
		h := &holding{}
		if p, ok := owned.Load(w); ok {
			h = p.(*holding)
		}
		for range 50 {
			var x unsafe.Pointer
			var e uintptr
			switch rng.IntN(5) {
			case 0: // pop: the entry moves to the free stack, the token to us
				if run(func() (st int) {
					if mmcid {
						x, e, _, st = opPoolPopMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent)
					} else {
						x, e, _, st = opPoolPopCPU(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent)
					}
					return st
				}, func(shard uintptr) (st int) {
					x, e, _, st = fallbackPoolPop(shard, base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent)
					return st
				}) == statusOK {
					take(x, e, h)
				}
			case 1: // pop and claim: the token and the index to us
				if run(func() (st int) {
					if mmcid {
						x, e, _, st = opPoolPopClaimMMCID(base, poolTestStride, limit, poolTestFullOff, ent)
					} else {
						x, e, _, st = opPoolPopClaimCPU(base, poolTestStride, limit, poolTestFullOff, ent)
					}
					return st
				}, func(shard uintptr) (st int) {
					x, e, _, st = fallbackPoolPopClaim(shard, base, poolTestStride, limit, poolTestFullOff, ent)
					return st
				}) == statusOK {
					take(x, e, h)
					h.idx = append(h.idx, uint32(e))
				}
			case 2: // claim a free entry
				if run(func() (st int) {
					if mmcid {
						e, _, st = opPoolClaimFreeMMCID(base, poolTestStride, limit, poolTestFreeOff)
					} else {
						e, _, st = opPoolClaimFreeCPU(base, poolTestStride, limit, poolTestFreeOff)
					}
					return st
				}, func(shard uintptr) (st int) {
					e, _, st = fallbackPoolClaimFree(shard, base, poolTestStride, limit, poolTestFreeOff)
					return st
				}) == statusOK {
					if e >= uintptr(m) {
						t.Errorf("claimed free entry %d of %d", e, m)
					}
					h.idx = append(h.idx, uint32(e))
				}
			case 3: // give an owned entry back: filled with a token to the
				// full stack, else to the free stack
				if len(h.idx) == 0 {
					continue
				}
				e := uintptr(h.idx[len(h.idx)-1])
				full := len(h.tok) > 0 && rng.IntN(2) == 0
				if full {
					x = give(h)
					entries[e] = (*int)(x)
				}
				if run(func() (st int) {
					switch {
					case full && mmcid:
						_, st = opPoolPushFullMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
					case full:
						_, st = opPoolPushFullCPU(base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
					case mmcid:
						_, st = opPoolPushFreeMMCID(base, poolTestStride, limit, poolTestFreeOff, poolTestCap, e)
					default:
						_, st = opPoolPushFreeCPU(base, poolTestStride, limit, poolTestFreeOff, poolTestCap, e)
					}
					return st
				}, func(shard uintptr) (st int) {
					if full {
						_, st = fallbackPoolPushFull(shard, base, poolTestStride, limit, poolTestFullOff, poolTestCap, e)
					} else {
						_, st = fallbackPoolPushFree(shard, base, poolTestStride, limit, poolTestFreeOff, poolTestCap, e)
					}
					return st
				}) == statusOK {
					h.idx = h.idx[:len(h.idx)-1]
					if full {
						h.tok = h.tok[:len(h.tok)-1]
					}
				} else if full {
					back(x)
				}
			case 4: // put a token: a free entry takes it onto the full stack
				if len(h.tok) == 0 {
					continue
				}
				x = give(h)
				if run(func() (st int) {
					if mmcid {
						_, st = opPoolPutMMCID(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, x, wb)
					} else {
						_, st = opPoolPutCPU(base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, x, wb)
					}
					return st
				}, func(shard uintptr) (st int) {
					_, st = fallbackPoolPut(shard, base, poolTestStride, limit, poolTestFullOff, poolTestFreeOff, poolTestCap, ent, x, wb)
					return st
				}) == statusOK {
					h.tok = h.tok[:len(h.tok)-1]
				} else {
					back(x)
				}
			}
			ops.Add(1)
		}
		owned.Store(w, h)
	})
	seen := make([]int, m)
	tokens := make([]int, m)
	for _, x := range loose {
		tokens[*(*int)(x)]++
	}
	owned.Range(func(_, p any) bool {
		for _, e := range p.(*holding).idx {
			seen[e]++
		}
		for _, x := range p.(*holding).tok {
			tokens[*(*int)(x)]++
		}
		return true
	})
	for i := range limit {
		tops := slab[i*poolTestStride/8]
		ft, fr := uintptr(tops&0xffffffff), uintptr(tops>>32)
		if ft > poolTestCap || fr > poolTestCap {
			t.Fatalf("slab %d: tops full %d free %d, capacity %d", i, ft, fr, poolTestCap)
		}
		for k := range ft {
			e := *u32(i, poolTestFullOff, k)
			seen[e]++
			if entries[e] == nil {
				t.Errorf("entry %d is on a full stack and holds no token", e)
			} else {
				tokens[*entries[e]]++
			}
		}
		for k := range fr {
			seen[*u32(i, poolTestFreeOff, k)]++
		}
	}
	for e, n := range seen {
		if n != 1 {
			t.Errorf("entry %d is held %d times (want exactly once: conservation)", e, n)
		}
	}
	for k, n := range tokens {
		if n != 1 {
			t.Errorf("token %d is held %d times (want exactly once: an entry on a full stack or a worker)", k, n)
		}
	}
	t.Logf("%d pool ops", ops.Load())
}

func TestOpIndexRange(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	base, slots := words(1)
	for _, f := range []func() (uintptr, int){
		func() (uintptr, int) { return opLoadAddStoreCPU(base, opStride, 0, 1) },
		func() (uintptr, int) { return opLoadAddStoreMMCID(base, opStride, 0, 1) },
	} {
		for {
			idx, st := f()
			if st == statusUnregistered && slowPath() {
				continue
			}
			if st != statusIndexRange {
				t.Errorf("limit 0: status %d idx %d, want %d", st, idx, statusIndexRange)
			}
			break
		}
	}
	if slots[0] != 0 {
		t.Errorf("out-of-range op stored %d", slots[0])
	}
}

func TestOpStats(t *testing.T) {
	st := OpStats()
	if len(st) != zopCount {
		t.Fatalf("%d stats, want %d", len(st), zopCount)
	}
	for _, s := range st {
		d := s.Descriptor
		if opFastPath() {
			if d.StartIP == 0 || d.PostCommitOffset == 0 || d.AbortIP == 0 {
				t.Errorf("%s: fast path on but descriptor %+v", s.Func, d)
			}
			if d.AbortIP >= d.StartIP && d.AbortIP < d.StartIP+d.PostCommitOffset {
				t.Errorf("%s: abort_ip inside the section", s.Func)
			}
		}
		if s.Name == "" || (s.Index != "cpu_id" && s.Index != "mm_cid") {
			t.Errorf("bad stat %+v", s)
		}
	}
	if testing.Verbose() {
		for _, s := range st {
			fmt.Printf("%-34s %-6s start %#x len %3d abort %#x aborts %d\n", s.Func, s.Index, s.Descriptor.StartIP, s.Descriptor.PostCommitOffset, s.Descriptor.AbortIP, s.Aborts)
		}
	}
}

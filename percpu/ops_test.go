//go:build linux

package percpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
)

// Tests of the generated per-CPU ops (gen/ops): every op, in both index
// variants and on its fallback, against a model, under forced aborts
// (opStress). They run the same way on amd64, on arm64 under
// qemu-system-aarch64 (internal/vmtest) and, with the fast path off
// (purego, rseqop.ModeNone, qemu-user), on the fallbacks alone.

const opStride = 64 // one cache line per slot

func opLimit() uintptr { return uintptr(max(proc.slots, 1)) }

// opVariants are the subtests every op runs: its critical section (indexed
// by the field the process uses, Status().Index) and its fallback alone.
var opVariants = []string{"Section", "Fallback"}

func forVariants(t *testing.T, op string, run func(t *testing.T, fallback bool, fns []string)) {
	for _, v := range opVariants {
		t.Run(v, func(t *testing.T) {
			fns := []string{"zop" + op}
			if v == "Fallback" {
				fns = nil
			}
			run(t, v == "Fallback", fns)
		})
	}
}

func words(n uintptr) (unsafe.Pointer, []uint64) {
	s := make([]uint64, n*opStride/8)
	return unsafe.Pointer(&s[0]), s
}

func TestOpLoadAddLoadLoadAddStore(t *testing.T) {
	forVariants(t, "LoadAddLoadLoadAddStore", func(t *testing.T, fb bool, fns []string) {
		limit := opLimit()
		arr, slots := words(limit)
		ptr := unsafe.Pointer(&arr)
		var total atomic.Int64
		opStress(t, fns, fb, func(w int, rng *rand.Rand) {
			var n int64
			for range 100 {
				st := opDo(limit, fb, func() int {
					var st int
					_, st = zopLoadAddLoadLoadAddStore(ptr, opStride, limit, 1)
					return st
				}, func(shard uintptr) int {
					_, st := zopFallbackLoadAddLoadLoadAddStore(shard, ptr, opStride, limit, 1)
					return st
				})
				if st != zopStatusOK {
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
	forVariants(t, "LoadCbneStore", func(t *testing.T, fb bool, fns []string) {
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
					idx, st = zopLoadCbneStore(base, opStride, limit, expect, expect+1)
					return st
				}, func(shard uintptr) int {
					var st int
					idx, st = zopFallbackLoadCbneStore(shard, base, opStride, limit, expect, expect+1)
					return st
				})
				switch st {
				case zopStatusOK:
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

// testCaches is the pool cache layout of the op tests: slot i's count word
// at tops + i*64, its entries at ent + i*poolTestSpan (a span that is not a
// multiple of 64, on purpose: the ops must not care).
type testCaches struct {
	topsMem []uint64
	entries []*int
	tops    unsafe.Pointer
	ent     unsafe.Pointer
	limit   uintptr
}

const (
	poolTestCap     = 16
	poolTestPtrSize = unsafe.Sizeof(unsafe.Pointer(nil))
	poolTestSpan    = poolTestPtrSize*poolTestCap + poolTestPtrSize
)

func newTestCaches(limit uintptr) *testCaches {
	c := &testCaches{
		topsMem: make([]uint64, limit<<poolTopsShift/8),
		entries: make([]*int, limit*poolTestSpan/poolTestPtrSize),
		limit:   limit,
	}
	c.tops, c.ent = unsafe.Pointer(&c.topsMem[0]), unsafe.Pointer(&c.entries[0])
	return c
}

func (c *testCaches) count(i uintptr) *uint64 { return &c.topsMem[i<<poolTopsShift/8] }

// TestPoolTopsShift: percpu lays out the count words with the spacing the
// generated ops assume.
func TestPoolTopsShift(t *testing.T) {
	if poolTopsShift != zopPoolTopsShift {
		t.Fatalf("percpu poolTopsShift %d, gen/ops PoolTopsShift %d", poolTopsShift, zopPoolTopsShift)
	}
}

// TestHotOpLayout: the hot ops read Counter, poolState and shardTable fields and the
// area's index fields at offsets fixed in gen/ops and here; they must be
// where the Go types put them, for every T.
func TestHotOpLayout(t *testing.T) {
	var c Counter
	var f Float64Counter
	var s poolState[testObj]
	var a rseqabi.Area
	for _, x := range []struct {
		what      string
		got, want uintptr
	}{
		{"Counter.h.cell (counterAdd's base is the Counter)", unsafe.Offsetof(c.h) + unsafe.Offsetof(c.h.cell), 0},
		{"Float64Counter.h.cell (float64Add's base is the counter)", unsafe.Offsetof(f.h) + unsafe.Offsetof(f.h.cell), 0},
		{"arenaRegion", arenaRegion, 1 << zopArenaRegionShift},
		{"Pool[T].state vs Pool[poolAny].state", unsafe.Offsetof(Pool[testObj]{}.state), unsafe.Offsetof(Pool[poolAny]{}.state)},
		{"sizeof Pool[T] vs Pool[poolAny]", unsafe.Sizeof(Pool[testObj]{}), unsafe.Sizeof(Pool[poolAny]{})},
		{"sizeof poolState[T] vs poolState[poolAny]", unsafe.Sizeof(s), unsafe.Sizeof(poolState[poolAny]{})},
		// shardLockSlow views &Sharded[T].cpu as a shardedHead.
		{"Sharded[T].tab - Sharded[T].cpu", unsafe.Offsetof(Sharded[testObj]{}.tab) - unsafe.Offsetof(Sharded[testObj]{}.cpu), unsafe.Offsetof(shardedHead{}.tab)},
		{"sizeof Sharded[T].tab", unsafe.Sizeof(Sharded[testObj]{}.tab), unsafe.Sizeof(unsafe.Pointer(nil))},
		{"shardTable[T].shardHead", unsafe.Offsetof(shardTable[testObj]{}.shardHead), 0},
		{"struct rseq cpu_id", unsafe.Offsetof(a.CPUID), areaCPUIDOffset},
		{"struct rseq mm_cid", unsafe.Offsetof(a.MMCID), areaMMCIDOffset},
	} {
		if x.got != x.want {
			t.Errorf("%s: offset %d, the hot ops assume %d", x.what, x.got, x.want)
		}
	}
	// The pool's hot ops read poolState through 64-bit pointers: only where
	// they exist (the offsets differ on 32-bit platforms, which run the
	// slow paths).
	if unsafe.Sizeof(uintptr(0)) == 8 {
		for _, x := range []struct {
			what      string
			got, want uintptr
		}{
			{"poolState.fast.tops", unsafe.Offsetof(s.fast) + unsafe.Offsetof(s.fast.tops), zopPoolStateTops},
			{"poolState.fast.entriesPtr", unsafe.Offsetof(s.fast) + unsafe.Offsetof(s.fast.entriesPtr), zopPoolStateEntries},
			{"poolState.fast.span", unsafe.Offsetof(s.fast) + unsafe.Offsetof(s.fast.span), zopPoolStateSpan},
			{"poolState.fast.capacity", unsafe.Offsetof(s.fast) + unsafe.Offsetof(s.fast.capacity), zopPoolStateCapacity},
			{"shardCPU.base", unsafe.Offsetof(shardCPU{}.base), zopShardBase},
			{"shardCPU.stride", unsafe.Offsetof(shardCPU{}.stride), zopShardStride},
			{"shardCPU.limit", unsafe.Offsetof(shardCPU{}.limit), zopShardLimit},
		} {
			if x.got != x.want {
				t.Errorf("%s: offset %d, the hot ops assume %d", x.what, x.got, x.want)
			}
		}
	}
	want := uintptr(areaCPUIDOffset)
	if proc.useMMCID {
		want = areaMMCIDOffset
	}
	if zopIndexOffset != want {
		t.Errorf("zopIndexOffset %d, want %d (useMMCID %v)", zopIndexOffset, want, proc.useMMCID)
	}
}

func (c *testCaches) region(i uintptr) []*int {
	return c.entries[i*poolTestSpan/poolTestPtrSize:][:poolTestCap]
}

// pop runs PoolPop (its section or, with shard >= 0, its fallback).
func (c *testCaches) pop(shard int) (x unsafe.Pointer, idx uintptr, st int) {
	if shard >= 0 {
		return zopFallbackPoolPop(uintptr(shard), c.tops, c.ent, c.limit, poolTestSpan)
	}
	return zopPoolPop(c.tops, c.ent, c.limit, poolTestSpan)
}

// push runs PoolPush with the write barrier flag at wb.
func (c *testCaches) push(shard int, x, wb unsafe.Pointer) (idx uintptr, st int) {
	if shard >= 0 {
		return zopFallbackPoolPush(uintptr(shard), c.tops, c.ent, c.limit, poolTestSpan, poolTestCap, x, wb)
	}
	return zopPoolPush(c.tops, c.ent, c.limit, poolTestSpan, poolTestCap, x, wb)
}

// tokens counts where every token is (the caches' pooled entries plus the
// extra places given) and reports a token found other than exactly once.
func (c *testCaches) tokens(objs []int, elsewhere ...[]unsafe.Pointer) error {
	seen := make([]int, len(objs))
	mark := func(x unsafe.Pointer) error {
		k := *(*int)(x)
		if k < 0 || k >= len(objs) || x != unsafe.Pointer(&objs[k]) {
			return fmt.Errorf("%p is not a token", x)
		}
		seen[k]++
		return nil
	}
	for i := range c.limit {
		n := *c.count(i)
		if n > poolTestCap {
			return fmt.Errorf("slot %d: count %d beyond capacity %d", i, n, poolTestCap)
		}
		for k, x := range c.region(i)[:n] {
			if x == nil {
				return fmt.Errorf("slot %d: pooled entry %d is nil", i, k)
			}
			if err := mark(unsafe.Pointer(x)); err != nil {
				return fmt.Errorf("slot %d entry %d: %v", i, k, err)
			}
		}
	}
	for _, l := range elsewhere {
		for _, x := range l {
			if err := mark(x); err != nil {
				return err
			}
		}
	}
	for k, n := range seen {
		if n != 1 {
			return fmt.Errorf("token %d is in %d places (want exactly 1: a cache or a worker)", k, n)
		}
	}
	return nil
}

func TestOpPool(t *testing.T) {
	for _, v := range opVariants {
		t.Run(v, func(t *testing.T) {
			testOpPool(t, v == "Fallback")
		})
	}
}

// testOpPool drives PoolPop and PoolPush concurrently on shared caches.
// Objects are tokens (objs[k] holds k); a worker holds the tokens it
// popped. At the end every token is in exactly one place (below a slot's
// count or with a worker), and no token was ever handed to two workers at
// once.
func testOpPool(t *testing.T, fb bool) {
	var fns []string
	if !fb {
		fns = []string{"zopPoolPop", "zopPoolPush"}
	}
	limit := opLimit()
	c := newTestCaches(limit)
	m := int(limit) * poolTestCap / 2
	objs := make([]int, m)
	for k := range objs {
		objs[k] = k
		i := uintptr(k) % limit
		n := c.count(i)
		c.region(i)[*n] = &objs[k]
		*n++
	}
	var wbOff uint32 // a write barrier flag that stays off: PoolPush never fails with 2 here
	wb := unsafe.Pointer(&wbOff)
	// The race detector cannot see the sections order one worker's pushes
	// before another's pops: race builds add the edges, as the Pool does.
	var raceSync atomic.Uint64
	run := func(op func(shard int) int) int {
		if raceEnabled {
			raceSync.Add(1)
		}
		st := opDo(limit, fb, func() int { return op(-1) }, func(shard uintptr) int { return op(int(shard)) })
		if st < zopStatusOK || st > 1 {
			t.Errorf("status %d", st)
		}
		if raceEnabled {
			raceSync.Add(1)
		}
		return st
	}
	var owned sync.Map // worker -> *[]unsafe.Pointer held at the end
	var ops atomic.Int64
	tokenHeld := make([]atomic.Bool, m)
	opStress(t, fns, fb, func(w int, rng *rand.Rand) {
		mine := &[]unsafe.Pointer{}
		if p, ok := owned.Load(w); ok {
			mine = p.(*[]unsafe.Pointer)
		}
		for range 50 {
			if len(*mine) == 0 || rng.IntN(2) == 0 {
				var x unsafe.Pointer
				if run(func(shard int) (st int) {
					x, _, st = c.pop(shard)
					return st
				}) != zopStatusOK {
					continue
				}
				k := *(*int)(x)
				if k < 0 || k >= m || x != unsafe.Pointer(&objs[k]) {
					t.Errorf("popped %p: not a token", x)
					continue
				}
				if tokenHeld[k].Swap(true) {
					t.Errorf("token %d handed out twice", k)
				}
				*mine = append(*mine, x)
			} else {
				x := (*mine)[len(*mine)-1]
				k := *(*int)(x)
				tokenHeld[k].Store(false)
				if run(func(shard int) (st int) {
					_, st = c.push(shard, x, wb)
					return st
				}) == zopStatusOK {
					*mine = (*mine)[:len(*mine)-1]
				} else {
					tokenHeld[k].Store(true)
				}
			}
			ops.Add(1)
		}
		owned.Store(w, mine)
	})
	var held [][]unsafe.Pointer
	owned.Range(func(_, p any) bool {
		held = append(held, *p.(*[]unsafe.Pointer))
		return true
	})
	if err := c.tokens(objs, held...); err != nil {
		t.Error(err)
	}
	t.Logf("%d pool ops", ops.Load())
}

func TestOpIndexRange(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	base, slots := words(1)
	for _, f := range []func() (uintptr, int){
		func() (uintptr, int) { return zopLoadCbneStore(base, opStride, 0, 0, 1) },
		func() (uintptr, int) { return zopLoadCbneStore(base, opStride, 0, 0, 1) },
	} {
		for {
			idx, st := f()
			if st == zopStatusUnregistered && slowPath() {
				continue
			}
			if st != zopStatusIndexRange {
				t.Errorf("limit 0: status %d idx %d, want %d", st, idx, zopStatusIndexRange)
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

// TestOpsDisabled: with the ownership offset at rseqop.OwnerDisabled (what
// rseqop.Register returns for a package whose sections failed validation,
// and the value before registration), every op reports no usable area and
// neither arms a descriptor nor stores, on every thread, registered or
// not; a hot op goes to its slow path, which keeps the total exact.
func TestOpsDisabled(t *testing.T) {
	if !opFastPath() {
		t.Skip("fast path off: ", Status().Reason)
	}
	if !registerThisThread() {
		t.Skip("this thread cannot register")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	th := rseqop.Pin()
	defer th.Unpin()
	cs := &th.Area().CS
	saved := zopOwnerOffset
	zopOwnerOffset = rseqop.OwnerDisabled
	defer func() { zopOwnerOffset = saved }()
	atomic.StoreUint64(cs, 0)
	base, slots := words(opLimit())
	for range 100 {
		if _, st := zopLoadCbneStore(base, opStride, opLimit(), 0, 1); st != zopStatusUnregistered {
			t.Fatalf("disabled op: status %d, want %d", st, zopStatusUnregistered)
		}
	}
	for i, v := range slots {
		if v != 0 {
			t.Fatalf("disabled op stored %d at word %d", v, i)
		}
	}
	if got := atomic.LoadUint64(cs); got != 0 {
		t.Fatalf("disabled op armed rseq_cs = %#x", got)
	}
	var c Counter
	for range 1000 {
		c.Add(1) // counterAdd: every call through counterAddSlow
	}
	if got := c.Load(); got != 1000 {
		t.Fatalf("counter %d, want 1000", got)
	}
}

// Package ops holds the descriptions of percpu's per-CPU operations (All)
// and of librseq's op set (Librseq). To add an op to percpu, write a
// function here that builds it, add it to All, and run go generate
// ./percpu; a module of its own describes its ops in its own generator
// program (see gen/README.md).
//
// Conventions shared by the ops: a per-CPU "slot" lives at
// base + idx*stride, where idx is the index read inside the section (cpu_id
// or mm_cid) and limit is the number of slots; the address is computed
// inside the section, from the idx read there, so a migration between the
// index load and the commit aborts the section instead of touching another
// CPU's slot. Words stored by the ops are not Go pointers into the heap
// (asm stores have no write barrier): use indices, off-heap memory, or
// pointers the GC does not track. The one exception is StoreHeapPointer,
// which the validator accepts only after FailIfWriteBarrier (see PoolPush).
package ops

//lint:ignore ST1001 the op descriptions are written in gen/ir's small language (Load, Commit, At, Imm, ...), read like librseq's templates; qualifying every word would bury them
import . "github.com/gorseq/rseq/gen/ir"

// All returns percpu's ops, in generation order (the order of its op
// table): the ones its structures call (Sharded: ShardLock and
// LoadCbneStore; Counter: LoadAddLoadLoadAddStore and CounterAdd;
// Float64Counter: LoadLoadFAddStore and Float64CounterAdd; Pool: PoolPop,
// PoolPush, PoolGet, PoolPut). Every process that imports percpu
// validates each at init.
func All() []*Op {
	return build(
		LoadCbneStore, LoadAddLoadLoadAddStore, LoadLoadFAddStore,
		PoolPop, PoolPush,
		CounterAdd, Float64CounterAdd, PoolGet, PoolPut, ShardLock,
	)
}

// Librseq returns the descriptions of librseq's per-CPU operations
// (rseq_load_cbne_store, rseq_load_add_store, the list pop, the indirect
// add, the two-store and memcpy compare-and-publish). percpu generates only
// the two it calls (All); the others are no product of gorseq (DESIGN.md,
// "The librseq op set"): they stay here as worked descriptions to copy into
// a generator program of one's own, checked by the generator's tests
// (structure, assembly, asmdecl and link).
func Librseq() []*Op {
	return build(
		LoadCbneStore, LoadAddStore, LoadCbeqStoreAddLoadStore, LoadAddLoadLoadAddStore,
		LoadCbneStoreStore, LoadCbneMemcpyStore,
	)
}

func build(fs ...func() *Builder) []*Op {
	var ops []*Op
	for _, f := range fs {
		op, err := f().Build()
		if err != nil {
			panic(err)
		}
		ops = append(ops, op)
	}
	return ops
}

// Consts are the layout assumptions of percpu's ops, declared in
// percpu/zops_table.go, where TestHotOpLayout checks them against the Go
// types (percpu's tests cannot import this module).
func Consts() []Const {
	return []Const{
		{Name: "zopArenaRegionShift", Value: ArenaRegionShift, Doc: "A counter's words are 1<<zopArenaRegionShift bytes apart, one per slot (gen/ops.ArenaRegionShift)."},
		{Name: "zopPoolTopsShift", Value: PoolTopsShift, Doc: "gen/ops.PoolTopsShift"},
		{Name: "zopPoolStateTops", Value: PoolStateTops, Doc: "Offsets in poolState the pool's hot ops read (gen/ops.PoolState*)."},
		{Name: "zopPoolStateEntries", Value: PoolStateEntries},
		{Name: "zopPoolStateSpan", Value: PoolStateSpan},
		{Name: "zopPoolStateCapacity", Value: PoolStateCapacity},
		{Name: "zopShardBase", Value: ShardBase, Doc: "Offsets in shardCPU the ShardLock hot op reads (gen/ops.Shard*)."},
		{Name: "zopShardStride", Value: ShardStride},
		{Name: "zopShardLimit", Value: ShardLimit},
	}
}

// slot emits base + idx*stride, reading base and stride.
func slot(b *Builder, base, stride int) Value {
	off := b.Mul(b.Idx(), V(b.Arg(stride)))
	return b.Add(b.Arg(base), V(off))
}

// LoadCbneStore is librseq's rseq_load_cbne_store: compare-and-set on this
// CPU's word.
func LoadCbneStore() *Builder {
	b := New("LoadCbneStore", `compares the word at base + idx*stride with expect and, if equal, stores newv there.
Fails with 1 if the word differs from expect (nothing stored).`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	expect, newv := b.Param("expect", Word), b.Param("newv", Word)
	ne := b.Fail("word != expect")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	b.BranchFail(w, NE, V(b.Arg(expect)), ne)
	b.Commit(8, At(s, 0), b.Arg(newv))
	return b
}

// LoadAddStore is librseq's rseq_load_add_store: a per-CPU add.
func LoadAddStore() *Builder {
	b := New("LoadAddStore", `adds inc to the word at base + idx*stride.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	inc := b.Param("inc", Int)
	s := slot(b, base, stride)
	b.CommitAdd(8, At(s, 0), b.Arg(inc))
	return b
}

// LoadCbeqStoreAddLoadStore is librseq's list pop
// (rseq_load_cbeq_store_add_load_store): head = *slot; if head ==
// expectnot fail; *slot = *(head + voff).
func LoadCbeqStoreAddLoadStore() *Builder {
	b := New("LoadCbeqStoreAddLoadStore", `pops the head of the singly linked list whose head pointer is the word at
base + idx*stride: head = *slot; if head == expectnot fail 1; *slot =
*(head + voff) (the next pointer at offset voff in the node); returns head.
Nodes must not be Go heap memory the collector scans through this list.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	expectnot, voff := b.Param("expectnot", Ptr), b.Param("voff", Word)
	empty := b.Fail("head == expectnot (empty list)")
	s := slot(b, base, stride)
	head := b.Load(Ptr, 8, At(s, 0))
	b.BranchFail(head, EQ, V(b.Arg(expectnot)), empty)
	next := b.Load(Ptr, 8, AtIndex(head, b.Arg(voff), 1, 0))
	b.Commit(8, At(s, 0), next)
	b.Result("head", head)
	return b
}

// LoadAddLoadLoadAddStore is the Counter's add: the slot array is reached
// through a pointer loaded inside the section, so Reset can swap arrays and
// fence with membarrier(RSEQ).
func LoadAddLoadLoadAddStore() *Builder {
	b := New("LoadAddLoadLoadAddStore", `loads the slot array p = *ptr inside the section and adds inc to the word at
p + idx*stride. A writer that swaps *ptr and then runs an rseq fence
(membarrier RSEQ) knows no section still commits to the old array.`)
	ptr, stride := b.Param("ptr", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	inc := b.Param("inc", Int)
	p := b.Load(Ptr, 8, At(b.Arg(ptr), 0))
	off := b.Mul(b.Idx(), V(b.Arg(stride)))
	b.CommitAdd(8, AtIndex(p, off, 1, 0), b.Arg(inc))
	return b
}

// LoadCbneStoreStore is librseq's rseq_load_cbne_store_store: two stores,
// the commit last.
func LoadCbneStoreStore() *Builder {
	b := New("LoadCbneStoreStore", `compares the word at base + idx*stride with expect; if equal, stores newv2 at
slot + off2 (speculative) and then newv at the slot (commit). Fails with 1
if the word differs from expect (nothing stored).
Contract: the store to slot + off2 is speculative. A section aborted between it
and the commit leaves newv2 there although the slot word still holds expect,
and its retry may run on another CPU. Only the commit publishes: slot + off2
must be memory no reader trusts until the slot word says so (for example the
record just above a published count, as the kernel's rseq selftests do).`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	expect, off2, newv2, newv := b.Param("expect", Word), b.Param("off2", Word), b.Param("newv2", Word), b.Param("newv", Word)
	ne := b.Fail("word != expect")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	b.BranchFail(w, NE, V(b.Arg(expect)), ne)
	b.Store(8, AtIndex(s, b.Arg(off2), 1, 0), b.Arg(newv2))
	b.Commit(8, At(s, 0), b.Arg(newv))
	return b
}

// LoadCbneMemcpyStore is librseq's rseq_load_cbne_memcpy_store: copy, then
// commit.
func LoadCbneMemcpyStore() *Builder {
	b := New("LoadCbneMemcpyStore", `compares the word at base + idx*stride with expect; if equal, copies n bytes
from src to slot + dstOff (speculative) and then stores newv at the slot
(commit). Fails with 1 if the word differs from expect (nothing copied).
Contract: the copy is speculative. A section aborted after copying some or all
of the bytes and before the commit leaves them at slot + dstOff although the
slot word still holds expect, and its retry may run on another CPU. Only the
commit publishes: the destination must be memory no reader trusts until the
slot word says so (for example the record just above a published count, as
the kernel's rseq selftests' buffer tests do).`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	expect, dstOff, src, n, newv := b.Param("expect", Word), b.Param("dstOff", Word), b.Param("src", Ptr), b.Param("n", Word), b.Param("newv", Word)
	ne := b.Fail("word != expect")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	b.BranchFail(w, NE, V(b.Arg(expect)), ne)
	dst := b.Add(s, V(b.Arg(dstOff)))
	b.Copy(dst, b.Arg(src), b.Arg(n))
	b.Commit(8, At(s, 0), b.Arg(newv))
	return b
}

// Pool caches: slot idx has a count n (a word at tops + idx*64, one cache
// line each, in pointer-free memory) and the objects' pointers at
// entries + idx*span, n of them from the bottom up, in a []*T the collector
// scans. Pointers above n are stale references of objects handed out.

// PoolTopsShift: a slot's count word is 1<<PoolTopsShift bytes after the
// previous one (a cache line each).
const PoolTopsShift = 6

// poolSlot emits the address of this CPU's count word and of its entries.
func poolSlot(b *Builder, tops, entries, span int) (count, region Value) {
	count = b.Add(b.Arg(tops), V(b.ALU(Shl, b.Idx(), Imm(PoolTopsShift))))
	region = b.Add(b.Arg(entries), V(b.Mul(b.Idx(), V(b.Arg(span)))))
	return count, region
}

// PoolPop is Get's fast path: pop this CPU's top object.
func PoolPop() *Builder {
	b := New("PoolPop", `pops the top object of this CPU's cache: n = *count; x = region[n-1]; commits
*count = n-1, where count = tops + idx*64 and region = entries + idx*span.
The entry keeps x as a stale reference (no store: percpu/pool_fast.go says
why that is safe). Fails with 1 if the cache is empty.`)
	tops, entries := b.Param("tops", Ptr), b.Param("entries", Ptr)
	b.Param("limit", Word)
	span := b.Param("span", Word)
	empty := b.Fail("cache empty")
	count, region := poolSlot(b, tops, entries, span)
	n := b.Load(Word, 8, At(count, 0))
	b.BranchFail(n, EQ, Imm(0), empty)
	x := b.Load(Ptr, 8, AtIndex(region, n, 8, -8))
	nn := b.ALU(Sub, n, Imm(1))
	b.Commit(8, At(count, 0), nn)
	b.Result("x", x)
	return b
}

// PoolPush is Put's fast path: push an object on this CPU's cache.
func PoolPush() *Builder {
	b := New("PoolPush", `pushes x on this CPU's cache: n = *count; region[n] = x (an 8-byte pointer
store, speculative); commits *count = n+1, where count = tops + idx*64 and
region = entries + idx*span. The store has no write barrier: the op stores
only while the runtime's write barrier flag (*wb, 32 bits) is 0
(percpu/pool_fast.go has the proof). An abort after the store leaves x as a
stale reference above the top. Fails with 1 if the cache holds capacity
objects, 2 if the write barrier is on.`)
	tops, entries := b.Param("tops", Ptr), b.Param("entries", Ptr)
	b.Param("limit", Word)
	span, capacity := b.Param("span", Word), b.Param("capacity", Word)
	x, wb := b.Param("x", Ptr), b.Param("wb", Ptr)
	full := b.Fail("cache full")
	barrier := b.Fail("write barrier on (the collector is marking)")
	b.FailIfWriteBarrier(wb, barrier)
	count, region := poolSlot(b, tops, entries, span)
	n := b.Load(Word, 8, At(count, 0))
	b.BranchFail(n, GEU, V(b.Arg(capacity)), full)
	b.StoreHeapPointer(AtIndex(region, n, 8, 0), b.Arg(x))
	nn := b.Add(n, Imm(1))
	b.Commit(8, At(count, 0), nn)
	return b
}

// Hot ops (DESIGN.md, "Hot ops"): the library's hot paths, one asm call
// each that inlines into the caller's code. Each has only the arguments the
// caller cannot avoid passing, reads the index field offset, the bound and
// the rest from package variables, and leaves every failure to its Go slow
// path by a tail jump.

// ArenaRegionShift: the per-CPU arena's regions (one per slot) are
// 1<<ArenaRegionShift bytes apart, so a counter's word for slot idx is at
// its cell + idx<<ArenaRegionShift (percpu's arenaRegionShift, checked by a
// test).
const ArenaRegionShift = 12

// CounterAdd is Counter.Add: LoadAddLoadLoadAddStore with the stride a
// constant and the bound a global.
func CounterAdd() *Builder {
	b := New("CounterAdd", `adds delta to this CPU's word of the Counter whose cell pointer is at base
(the Counter's first word): p = *base, loaded inside the section so that
Reset can move the counter to another cell and fence; *(p + idx<<12) +=
delta.`)
	b.Hot(Hot{Func: "counterAdd", Slow: "counterAddSlow", Limit: "counterSlots"})
	base := b.Param("base", Ptr)
	delta := b.Param("delta", Int)
	noCell := b.Fail("no cell yet (the first Add allocates it)")
	p := b.Load(Ptr, 8, At(b.Arg(base), 0))
	b.BranchFail(p, EQ, Imm(0), noCell)
	off := b.ALU(Shl, b.Idx(), Imm(ArenaRegionShift))
	b.CommitAdd(8, AtIndex(p, off, 1, 0), b.Arg(delta))
	return b
}

// Float64CounterAdd is Float64Counter.Add: CounterAdd with a float64 add
// (load, FAdd, store: the store commits).
func Float64CounterAdd() *Builder {
	b := New("Float64CounterAdd", `adds delta to this CPU's word of the Float64Counter whose cell pointer is at
base (its first word): p = *base, loaded inside the section; w = p +
idx<<12; *w = *w + delta (float64).`)
	b.Hot(Hot{Func: "float64Add", Slow: "float64AddSlow", Limit: "counterSlots"})
	base := b.Param("base", Ptr)
	delta := b.Param("delta", Float)
	noCell := b.Fail("no cell yet (the first Add allocates it)")
	p := b.Load(Ptr, 8, At(b.Arg(base), 0))
	b.BranchFail(p, EQ, Imm(0), noCell)
	w := b.Add(p, V(b.ALU(Shl, b.Idx(), Imm(ArenaRegionShift))))
	sum := b.FAdd(b.Load(Float, 8, At(w, 0)), b.Arg(delta))
	b.Commit(8, At(w, 0), sum)
	return b
}

// LoadLoadFAddStore is Float64Counter's slow path add: p = *ptr inside the
// section, then a float64 add on p + idx*stride.
func LoadLoadFAddStore() *Builder {
	b := New("LoadLoadFAddStore", `loads the cell pointer p = *ptr inside the section and adds inc (float64) to
the float64 at p + idx*stride. A writer that swaps *ptr and then runs an
rseq fence knows no section still commits to the old cell.`)
	ptr, stride := b.Param("ptr", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	inc := b.Param("inc", Float)
	w := b.Add(b.Load(Ptr, 8, At(b.Arg(ptr), 0)), V(b.Mul(b.Idx(), V(b.Arg(stride)))))
	sum := b.FAdd(b.Load(Float, 8, At(w, 0)), b.Arg(inc))
	b.Commit(8, At(w, 0), sum)
	return b
}

// Offsets in percpu's poolState of the per-CPU cache fields the pool's hot
// ops read (checked against unsafe.Offsetof by a percpu test).
const (
	PoolStateTops     = 0  // fast.tops: slot 0's count word, nil without per-CPU caches
	PoolStateEntries  = 8  // fast.entriesPtr: slot 0's first entry
	PoolStateSpan     = 24 // fast.span: bytes from one slot's entries to the next
	PoolStateCapacity = 32 // fast.capacity: objects one slot holds
)

// poolState emits s = *state (the Pool's current storage) and its tops,
// failing with noStorage / noCaches when either is nil.
func poolState(b *Builder, state, noStorage, noCaches int) (s, tops Value) {
	s = b.Load(Ptr, 8, At(b.Arg(state), 0))
	b.BranchFail(s, EQ, Imm(0), noStorage)
	tops = b.Load(Ptr, 8, At(s, PoolStateTops))
	b.BranchFail(tops, EQ, Imm(0), noCaches)
	return s, tops
}

// poolRegion emits this CPU's count word and entries.
func poolRegion(b *Builder, s, tops Value) (count, region Value) {
	count = b.Add(tops, V(b.ALU(Shl, b.Idx(), Imm(PoolTopsShift))))
	span := b.Load(Word, 8, At(s, PoolStateSpan))
	region = b.Add(b.Load(Ptr, 8, At(s, PoolStateEntries)), V(b.Mul(b.Idx(), V(span))))
	return count, region
}

// PoolGet is Pool.Get: PoolPop on the Pool's current storage, clearing the
// entry it pops while the collector is not marking.
func PoolGet() *Builder {
	b := New("PoolGet", `pops the top object of this CPU's cache of the Pool whose storage pointer is
at state: n = *count; x = region[n-1]; region[n-1] = nil unless the
runtime's write barrier flag is on (speculative); commits *count = n-1;
returns x. While the collector marks the entry keeps x as a stale
reference (percpu/pool_fast.go has the proof). An abort after the nil store
leaves a nil entry below the count (a hole): the next Get that finds it
takes the slow path, which pops it.`)
	b.Hot(Hot{Func: "poolGet", Slow: "poolGetSlow", Limit: "poolSlots"})
	state := b.Param("state", Ptr)
	noStorage := b.Fail("no storage yet")
	noCaches := b.Fail("no per-CPU caches")
	empty := b.Fail("cache empty")
	hole := b.Fail("nil entry (a hole an aborted Get left)")
	s, tops := poolState(b, state, noStorage, noCaches)
	count, region := poolRegion(b, s, tops)
	n := b.Load(Word, 8, At(count, 0))
	b.BranchFail(n, EQ, Imm(0), empty)
	x := b.Load(Ptr, 8, AtIndex(region, n, 8, -8))
	b.BranchFail(x, EQ, Imm(0), hole)
	b.ClearHeapPointerUnlessWriteBarrier(AtIndex(region, n, 8, -8), b.WriteBarrierGlobal("writeBarrierFlag"))
	b.Commit(8, At(count, 0), b.ALU(Sub, n, Imm(1)))
	b.Result("x", x)
	return b
}

// PoolPut is Pool.Put: PoolPush on the Pool's current storage.
func PoolPut() *Builder {
	b := New("PoolPut", `pushes x on this CPU's cache of the Pool whose storage pointer is at state:
n = *count; region[n] = x (speculative); commits *count = n+1. As PoolPush,
it stores only while the runtime's write barrier flag is off, or when
region[n] already holds x (percpu/pool_fast.go has the proof).`)
	b.Hot(Hot{Func: "poolPut", Slow: "poolPutSlow", Limit: "poolSlots"})
	state, x := b.Param("state", Ptr), b.Param("x", Ptr)
	isNil := b.Fail("x is nil")
	noStorage := b.Fail("no storage yet")
	noCaches := b.Fail("no per-CPU caches")
	full := b.Fail("cache full")
	marking := b.Fail("write barrier on (the collector is marking) and the entry does not hold x")
	xv := b.Arg(x)
	b.BranchFail(xv, EQ, Imm(0), isNil)
	s, tops := poolState(b, state, noStorage, noCaches)
	count, region := poolRegion(b, s, tops)
	n := b.Load(Word, 8, At(count, 0))
	b.BranchFail(n, GEU, V(b.Load(Word, 8, At(s, PoolStateCapacity))), full)
	entry := AtIndex(region, n, 8, 0)
	b.FailIfWriteBarrierUnlessSame(b.WriteBarrierGlobal("writeBarrierFlag"), entry, xv, marking)
	b.StoreHeapPointer(entry, xv)
	b.Commit(8, At(count, 0), b.Add(n, Imm(1)))
	return b
}

// Offsets in percpu's shardCPU (Sharded's first field after a zero-size
// one) of the fields ShardLock reads (checked against unsafe.Offsetof by a
// percpu test).
const (
	ShardBase   = 0  // base: per-CPU shard 0's lock word, nil until the per-CPU shards exist
	ShardStride = 8  // stride: bytes from one shard to the next
	ShardLimit  = 16 // limit: the number of per-CPU shards
)

// ShardLock is the lock acquire of Sharded.Update: LoadCbneStore(0 -> 1) on
// this CPU's shard.
func ShardLock() *Builder {
	b := New("ShardLock", `takes this CPU's shard lock of the Sharded whose per-CPU shard parameters
(base, stride, limit) are at s: w = *(base + idx*stride); if w == 0
commits 1 there (free -> held by a local section); returns the shard's
address (its lock word). A plain load and a plain store, no atomic
read-modify-write: the section can commit only on the CPU (or mm_cid) that
owns the shard, and Range's remote claims (CAS, then an rseq fence) are
ordered against it as DESIGN.md ("Sharded") proves. The parameters are
written once, base last: a stride or limit read before base (arm64 may)
is 0 and fails.`)
	b.Hot(Hot{Func: "shardLock", Slow: "shardLockSlow", Limit: "shardedSlots"})
	sp := b.Param("s", Ptr)
	noShards := b.Fail("no per-CPU shards (before the first Update, or the Sharded uses its locked shards)")
	outOfRange := b.Fail("index beyond the shards (or their count not visible yet)")
	noStride := b.Fail("stride not visible yet")
	taken := b.Fail("the shard is taken")
	params := b.Arg(sp)
	base := b.Load(Ptr, 8, At(params, ShardBase))
	b.BranchFail(base, EQ, Imm(0), noShards)
	b.BranchFail(b.Idx(), GEU, V(b.Load(Word, 8, At(params, ShardLimit))), outOfRange)
	stride := b.Load(Word, 8, At(params, ShardStride))
	b.BranchFail(stride, EQ, Imm(0), noStride)
	s := b.Add(base, V(b.Mul(b.Idx(), V(stride))))
	w := b.Load(Word, 8, At(s, 0))
	b.BranchFail(w, NE, Imm(0), taken)
	b.Commit(8, At(s, 0), b.Add(w, Imm(1))) // w is 0 here: stores 1 (shardLocal)
	b.Result("p", s)
	return b
}

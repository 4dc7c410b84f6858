// Package ops holds the description of every per-CPU operation gorseq
// generates. To add an op, write a function here that builds it, add it to
// All, and run go generate ./percpu (see gen/README.md).
//
// Conventions shared by the ops: a per-CPU "slot" lives at
// base + idx*stride, where idx is the index read inside the section (cpu_id
// or mm_cid) and limit is the number of slots; the address is computed
// inside the section, from the idx read there, so a migration between the
// index load and the commit aborts the section instead of touching another
// CPU's slot. Words stored by the ops are not Go pointers into the heap
// (asm stores have no write barrier): use indices, off-heap memory, or
// pointers the GC does not track. The one exception is StoreHeapPointer,
// which the validator accepts only after FailIfWriteBarrier (see PoolPut).
package ops

import . "github.com/gorseq/rseq/gen/ir"

// All returns every op, in generation order (the order of the op table).
func All() []*Op {
	var ops []*Op
	for _, f := range []func() *Builder{
		LoadCbneStore, LoadAddStore, LoadCbeqStoreAddLoadStore, LoadAddLoadLoadAddStore,
		LoadCbneStoreStore, LoadCbneMemcpyStore,
		PoolPop, PoolPopClaim, PoolClaimFree, PoolPushFull, PoolPushFree,
		PoolPut,
	} {
		op, err := f().Build()
		if err != nil {
			panic(err)
		}
		ops = append(ops, op)
	}
	return ops
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
if the word differs from expect (nothing stored).`)
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
(commit). Fails with 1 if the word differs from expect (nothing copied).`)
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

// Pool slabs: at base + idx*stride, the word tops (low 32 bits: full count
// ft, high 32 bits: free count fr), full [cap]uint32 at fullOff and free
// [cap]uint32 at freeOff, holding indices into entries (a []*T's base).

const lowMask = 1<<32 - 1

// PoolPop pops a full entry and pushes its index on the free stack.
func PoolPop() *Builder {
	b := New("PoolPop", `pops the top of this CPU's full stack: e = full[ft-1]; x = entries[e]
(a 64-bit load from entries + e*8); pushes e on the free stack (free[fr] = e,
speculative) and commits tops = w + (1<<32) - 1 (ft-1, fr+1). The caller
clears entries[e] itself. Fails with 1 if the full stack is empty, 2 if the
free stack is full.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	fullOff, freeOff, capacity, entries := b.Param("fullOff", Word), b.Param("freeOff", Word), b.Param("capacity", Word), b.Param("entries", Ptr)
	empty := b.Fail("full stack empty")
	full := b.Fail("free stack full")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	ft := b.ALU(And, w, Imm(lowMask))
	b.BranchFail(ft, EQ, Imm(0), empty)
	fr := b.ALU(Shr, w, Imm(32))
	b.BranchFail(fr, GEU, V(b.Arg(capacity)), full)
	fs := b.Add(s, V(b.Arg(fullOff)))
	e := b.Load(Word, 4, AtIndex(fs, ft, 4, -4))
	x := b.Load(Ptr, 8, AtIndex(b.Arg(entries), e, 8, 0))
	fb := b.Add(s, V(b.Arg(freeOff)))
	b.Store(4, AtIndex(fb, fr, 4, 0), e)
	nw := b.Add(w, Imm(lowMask))
	b.Commit(8, At(s, 0), nw)
	b.Result("x", x)
	b.Result("e", e)
	return b
}

// PoolPopClaim pops a full entry index without recycling it.
func PoolPopClaim() *Builder {
	b := New("PoolPopClaim", `pops the top of this CPU's full stack and hands the entry index to the
caller, who then owns it: e = full[ft-1]; x = entries[e]; commits
tops = w - 1. Fails with 1 if the full stack is empty.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	fullOff, entries := b.Param("fullOff", Word), b.Param("entries", Ptr)
	empty := b.Fail("full stack empty")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	ft := b.ALU(And, w, Imm(lowMask))
	b.BranchFail(ft, EQ, Imm(0), empty)
	fs := b.Add(s, V(b.Arg(fullOff)))
	e := b.Load(Word, 4, AtIndex(fs, ft, 4, -4))
	x := b.Load(Ptr, 8, AtIndex(b.Arg(entries), e, 8, 0))
	nw := b.ALU(Sub, w, Imm(1))
	b.Commit(8, At(s, 0), nw)
	b.Result("x", x)
	b.Result("e", e)
	return b
}

// PoolClaimFree pops a free entry index.
func PoolClaimFree() *Builder {
	b := New("PoolClaimFree", `pops the top of this CPU's free stack and hands the entry index to the
caller: e = free[fr-1]; commits tops = w - (1<<32). Fails with 1 if the
free stack is empty.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	freeOff := b.Param("freeOff", Word)
	empty := b.Fail("free stack empty")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	fr := b.ALU(Shr, w, Imm(32))
	b.BranchFail(fr, EQ, Imm(0), empty)
	fb := b.Add(s, V(b.Arg(freeOff)))
	e := b.Load(Word, 4, AtIndex(fb, fr, 4, -4))
	nw := b.ALU(Sub, w, Imm(1<<32))
	b.Commit(8, At(s, 0), nw)
	b.Result("e", e)
	return b
}

// PoolPushFull pushes an entry index on the full stack.
func PoolPushFull() *Builder {
	b := New("PoolPushFull", `pushes entry index e on this CPU's full stack: full[ft] = e (speculative)
and commits tops = w + 1. Fails with 1 if the full stack holds capacity
entries.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	fullOff, capacity, e := b.Param("fullOff", Word), b.Param("capacity", Word), b.Param("e", Word)
	full := b.Fail("full stack full")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	ft := b.ALU(And, w, Imm(lowMask))
	b.BranchFail(ft, GEU, V(b.Arg(capacity)), full)
	fs := b.Add(s, V(b.Arg(fullOff)))
	b.Store(4, AtIndex(fs, ft, 4, 0), b.Arg(e))
	nw := b.Add(w, Imm(1))
	b.Commit(8, At(s, 0), nw)
	return b
}

// PoolPushFree pushes an entry index on the free stack.
func PoolPushFree() *Builder {
	b := New("PoolPushFree", `pushes entry index e on this CPU's free stack: free[fr] = e (speculative)
and commits tops = w + (1<<32). Fails with 1 if the free stack holds
capacity entries.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	freeOff, capacity, e := b.Param("freeOff", Word), b.Param("capacity", Word), b.Param("e", Word)
	full := b.Fail("free stack full")
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	fr := b.ALU(Shr, w, Imm(32))
	b.BranchFail(fr, GEU, V(b.Arg(capacity)), full)
	fb := b.Add(s, V(b.Arg(freeOff)))
	b.Store(4, AtIndex(fb, fr, 4, 0), b.Arg(e))
	nw := b.Add(w, Imm(1<<32))
	b.Commit(8, At(s, 0), nw)
	return b
}

// PoolPut is Put's whole fast path in one section: it claims a free entry,
// stores the object's pointer in it and pushes it on the full stack.
func PoolPut() *Builder {
	b := New("PoolPut", `puts x in this CPU's cache in one section: e = free[fr-1]; entries[e] = x
(an 8-byte pointer store, speculative); full[ft] = e (speculative); commits
tops = w - (1<<32) + 1 (ft+1, fr-1). The pointer store has no write barrier,
so the op first fails with 3 when the runtime's write barrier flag (*wb, 32
bits) is set: it only stores while the collector is not marking, when
compiled Go code stores pointers without a barrier too, and the flag cannot
change before the op returns (the world stops only at safe points, and an
assembly function has none). If aborted after the pointer store, entries[e]
keeps x as a stale reference while e stays on the free stack. Fails with 1
if the full stack holds capacity entries, 2 if the free stack is empty, 3 if
the write barrier is on.`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	fullOff, freeOff, capacity, entries := b.Param("fullOff", Word), b.Param("freeOff", Word), b.Param("capacity", Word), b.Param("entries", Ptr)
	x, wb := b.Param("x", Ptr), b.Param("wb", Ptr)
	full := b.Fail("full stack full")
	empty := b.Fail("free stack empty")
	barrier := b.Fail("write barrier on (the collector is marking)")
	b.FailIfWriteBarrier(wb, barrier)
	s := slot(b, base, stride)
	w := b.Load(Word, 8, At(s, 0))
	ft := b.ALU(And, w, Imm(lowMask))
	b.BranchFail(ft, GEU, V(b.Arg(capacity)), full)
	fr := b.ALU(Shr, w, Imm(32))
	b.BranchFail(fr, EQ, Imm(0), empty)
	fb := b.Add(s, V(b.Arg(freeOff)))
	e := b.Load(Word, 4, AtIndex(fb, fr, 4, -4))
	b.StoreHeapPointer(AtIndex(b.Arg(entries), e, 8, 0), b.Arg(x))
	fs := b.Add(s, V(b.Arg(fullOff)))
	b.Store(4, AtIndex(fs, ft, 4, 0), e)
	nw := b.ALU(Sub, w, Imm(lowMask))
	b.Commit(8, At(s, 0), nw)
	return b
}

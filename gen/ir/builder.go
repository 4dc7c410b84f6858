package ir

// Builder writes an Op. Its methods append statements in order and return
// the values they define; Build validates the result.
type Builder struct {
	op Op
}

// New starts an op.
func New(name, doc string) *Builder {
	b := &Builder{op: Op{Name: name, Doc: doc}}
	b.op.types = []Type{0, Word} // none, Idx
	b.op.nvals = 2
	return b
}

func (b *Builder) newValue(t Type) Value {
	v := Value(b.op.nvals)
	b.op.nvals++
	b.op.types = append(b.op.types, t)
	return v
}

// Param declares a parameter and returns its index (for Arg).
func (b *Builder) Param(name string, t Type) int {
	b.op.Params = append(b.op.Params, Param{Name: name, Type: t})
	return len(b.op.Params) - 1
}

// Fail declares a failure status and returns its code (1, 2, ...).
func (b *Builder) Fail(doc string) int {
	b.op.Fails = append(b.op.Fails, doc)
	return len(b.op.Fails)
}

// Idx returns the slot index value.
func (b *Builder) Idx() Value { return Idx }

// Arg reads parameter p.
func (b *Builder) Arg(p int) Value {
	t := Word
	if p >= 0 && p < len(b.op.Params) {
		t = b.op.Params[p].Type
	}
	v := b.newValue(t)
	b.op.Body = append(b.op.Body, Stmt{Kind: Arg, Dst: v, Param: p})
	return v
}

// ALU appends dst = a op x; the result is a Ptr when a is a Ptr (Add, Sub).
func (b *Builder) ALU(op ALUOp, a Value, x Operand) Value {
	t := Word
	switch {
	case op == FAdd:
		t = Float
	case int(a) < len(b.op.types) && b.op.types[a] == Ptr:
		t = Ptr
	}
	v := b.newValue(t)
	b.op.Body = append(b.op.Body, Stmt{Kind: ALU, ALU: op, Dst: v, A: a, B: x})
	return v
}

// Add returns a + x.
func (b *Builder) Add(a Value, x Operand) Value { return b.ALU(Add, a, x) }

// FAdd returns the float64 sum a + x of two Float values.
func (b *Builder) FAdd(a, x Value) Value { return b.ALU(FAdd, a, V(x)) }

// Mul returns a * x.
func (b *Builder) Mul(a Value, x Operand) Value { return b.ALU(Mul, a, x) }

// Load reads size bytes at addr into a value of type t.
func (b *Builder) Load(t Type, size uint8, addr Addr) Value {
	v := b.newValue(t)
	b.op.Body = append(b.op.Body, Stmt{Kind: Load, Dst: v, Addr: addr, Size: size, Type: t})
	return v
}

// Store appends a speculative store of size bytes of x at addr.
func (b *Builder) Store(size uint8, addr Addr, x Value) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Store, Addr: addr, Size: size, A: x})
}

// StoreHeapPointer appends a speculative store of the Go heap pointer x
// (a Ptr) at addr, in memory the garbage collector scans (for example a
// []*T's backing array). The op must have called FailIfWriteBarrier first.
func (b *Builder) StoreHeapPointer(addr Addr, x Value) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Store, Addr: addr, Size: 8, A: x, HeapPtr: true})
}

// FailIfWriteBarrier leaves the section with status fail when the Go
// runtime's write barrier flag, a 32-bit word at the address given by the
// Ptr parameter flag (runtime.writeBarrier), is non-zero. Later
// StoreHeapPointer statements then run only while the barrier is off.
func (b *Builder) FailIfWriteBarrier(flag int, fail int) {
	on := b.Load(Word, 4, At(b.Arg(flag), 0))
	b.op.Body = append(b.op.Body, Stmt{Kind: Branch, A: on, Cond: NE, B: Imm(0), Fail: fail, WBGuard: true})
}

// ClearHeapPointer appends a speculative store of nil at addr, in memory
// the garbage collector scans. The op must have called FailIfWriteBarrier
// first (a deletion needs a barrier while the collector marks).
func (b *Builder) ClearHeapPointer(addr Addr) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Store, Addr: addr, Size: 8, HeapPtr: true, Zero: true})
}

// ClearHeapPointerUnlessWriteBarrier appends a speculative store of nil at
// addr, in memory the garbage collector scans, that happens only while the
// write barrier flag read into on (a 4-byte load, see WriteBarrierGlobal)
// is 0. While the collector marks it leaves the pointer where it is (no
// store, so no barrier is due); it needs no FailIfWriteBarrier before it.
func (b *Builder) ClearHeapPointerUnlessWriteBarrier(addr Addr, on Value) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Store, Addr: addr, Size: 8, HeapPtr: true, Zero: true, UnlessWB: on})
}

// WriteBarrierGlobal loads the write barrier flag (4 bytes) from the
// address held in the package variable name.
func (b *Builder) WriteBarrierGlobal(name string) Value {
	return b.Load(Word, 4, At(b.Global(name, Ptr), 0))
}

// FailIfWriteBarrierUnlessSame leaves the section with status fail when the
// write barrier flag on (a 4-byte load, see WriteBarrierGlobal) is non-zero
// and the 8-byte word at addr does not already hold x. After it the op may
// store x at addr (StoreHeapPointer) and no other heap pointer: while the
// collector marks that store rewrites the value already there, which no
// barrier needs to see.
func (b *Builder) FailIfWriteBarrierUnlessSame(on Value, addr Addr, x Value, fail int) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Branch, A: on, Cond: NE, B: Imm(0), Fail: fail, WBGuard: true, Addr: addr, SameVal: x})
}

// Global reads the 8-byte package variable name as a value of type t.
func (b *Builder) Global(name string, t Type) Value {
	v := b.newValue(t)
	b.op.Body = append(b.op.Body, Stmt{Kind: Global, Dst: v, Global: name, Type: t})
	return v
}

// Hot makes the op a hot op (see Hot).
func (b *Builder) Hot(h Hot) { b.op.Hot = &h }

// BranchFail leaves the section with status fail if a cond x.
func (b *Builder) BranchFail(a Value, cond Cond, x Operand, fail int) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Branch, A: a, Cond: cond, B: x, Fail: fail})
}

// Copy copies n bytes from src to dst.
func (b *Builder) Copy(dst, src, n Value) {
	t0, t1 := b.newValue(Word), b.newValue(Word)
	b.op.Body = append(b.op.Body, Stmt{Kind: Copy, CopyDst: dst, CopySrc: src, CopyLen: n, Tmp: [2]Value{t0, t1}})
}

// Commit appends the final store of x at addr.
func (b *Builder) Commit(size uint8, addr Addr, x Value) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Commit, Addr: addr, Size: size, A: x})
}

// CommitAdd appends the final add of x to the word at addr.
func (b *Builder) CommitAdd(size uint8, addr Addr, x Value) {
	b.op.Body = append(b.op.Body, Stmt{Kind: Commit, Addr: addr, Size: size, A: x, AddTo: true})
}

// Result declares a result.
func (b *Builder) Result(name string, v Value) {
	b.op.Results = append(b.op.Results, Result{Name: name, V: v})
}

// Op returns the op without validating it.
func (b *Builder) Op() *Op { op := b.op; return &op }

// Build validates the op and returns it.
func (b *Builder) Build() (*Op, error) {
	op := b.Op()
	if err := op.Validate(); err != nil {
		return nil, err
	}
	return op, nil
}

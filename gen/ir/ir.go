// Package ir is the description language of gorseq's per-CPU operations.
//
// An Op is the body of one rseq critical section, written as a short list
// of statements over SSA values (each defined once, read any number of
// times). The generator wraps the body in the fixed prologue and epilogue of
// DESIGN.md (thread word, area, rseq_cs, index load, bound check, markers,
// abort handler) and lowers it to amd64 (Avo), arm64 (own emitter) and
// portable Go (the fallback).
//
// The body sees:
//   - Idx: the slot index, read from the area (cpu_id or mm_cid) inside the
//     section and already checked against the op's "limit" parameter;
//   - parameters, read with Arg. Parameters live in the caller's argument
//     frame and are never written; an Arg inside the section is re-executed
//     after an abort, so nothing the body needs survives in a register
//     across the restart;
//   - loads, ALU operations, compare-and-branch to a failure exit (status
//     k >= 1, nothing committed), speculative stores, a byte copy, and
//     exactly one final Commit, the store that publishes the operation.
//
// Results are SSA values returned when the op commits (status 0); on any
// other status they are zero. Every op also returns idx and status.
package ir

import "fmt"

// Type is the Go-visible type of a value.
type Type uint8

const (
	// Word is an unsigned machine word (uintptr).
	Word Type = iota + 1
	// Ptr is an address (unsafe.Pointer in Go declarations). Only Ptr
	// values may be dereferenced.
	Ptr
	// Int is a signed 64-bit integer (int64 in Go declarations); in the
	// body it behaves like Word (two's complement arithmetic).
	Int
	// Float is an IEEE 754 double (float64 in Go declarations), held in a
	// general register as its 64 bits: it can be loaded, stored, committed
	// and added with FAdd, nothing else.
	Float
)

func (t Type) String() string {
	switch t {
	case Word:
		return "uintptr"
	case Ptr:
		return "unsafe.Pointer"
	case Int:
		return "int64"
	case Float:
		return "float64"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Value names an SSA value of an Op. The zero Value is "none"; Idx is
// predefined by the prologue.
type Value int

// Idx is the slot index read inside the section (cpu_id or mm_cid).
const Idx Value = 1

// Kind is a statement kind.
type Kind uint8

const (
	// Arg: Dst = parameter Param.
	Arg Kind = iota + 1
	// ALU: Dst = A <ALU> B.
	ALU
	// Load: Dst = *(Size bytes at Addr), zero-extended.
	Load
	// Store: *(Addr) = A, Size bytes. A speculative store: it may be
	// executed and then aborted, so it must only write memory that is
	// meaningless until the commit (e.g. above a stack top).
	Store
	// Branch: if A <Cond> B, leave the section with status Fail.
	Branch
	// Copy: copy CopyLen bytes from CopySrc to CopyDst (byte loop; the
	// bytes are speculative stores, see Store).
	Copy
	// Commit: the final store *(Addr) = A (or += A when Add): the single
	// instruction that publishes the op. It must be the last statement.
	Commit
	// Global: Dst = the 8-byte package variable named Global (a Word or a
	// Ptr). Hot ops read what the caller would otherwise pass from
	// variables that are set once at init.
	Global
)

// ALUOp is an arithmetic operation.
type ALUOp uint8

const (
	Add ALUOp = iota + 1
	Sub
	Mul
	And
	Or
	Shl // B must be an immediate 0..63
	Shr // logical; B must be an immediate 0..63
	// FAdd adds two Float values (IEEE 754 double addition, rounding to
	// nearest): amd64 ADDSD in X registers (never X15, ABIInternal's zero
	// register), arm64 FADDD in D registers, the fallback Go's + on
	// float64, which compiles to the same instructions.
	FAdd
)

var aluNames = [...]string{Add: "add", Sub: "sub", Mul: "mul", And: "and", Or: "or", Shl: "shl", Shr: "shr", FAdd: "fadd"}

func (o ALUOp) String() string {
	if int(o) < len(aluNames) && aluNames[o] != "" {
		return aluNames[o]
	}
	return fmt.Sprintf("ALUOp(%d)", int(o))
}

// Cond is a comparison of A with B. Unsigned unless noted.
type Cond uint8

const (
	EQ Cond = iota + 1
	NE
	LTU // A < B unsigned
	GEU // A >= B unsigned
	LEU
	GTU
	LT // signed
	GE // signed
)

var condNames = [...]string{EQ: "==", NE: "!=", LTU: "<u", GEU: ">=u", LEU: "<=u", GTU: ">u", LT: "<s", GE: ">=s"}

func (c Cond) String() string {
	if int(c) < len(condNames) && condNames[c] != "" {
		return condNames[c]
	}
	return fmt.Sprintf("Cond(%d)", int(c))
}

// Operand is a value or an immediate.
type Operand struct {
	V     Value
	Imm   int64
	IsImm bool
}

// Imm returns an immediate operand.
func Imm(x int64) Operand { return Operand{Imm: x, IsImm: true} }

// V returns a value operand.
func V(v Value) Operand { return Operand{V: v} }

// Addr is the address Base + Index*Scale + Off. Base must be a Ptr value;
// Index is optional (0) and a Word value; Scale is 1, 2, 4 or 8.
type Addr struct {
	Base  Value
	Index Value
	Scale uint8
	Off   int32
}

// At returns the address base+off.
func At(base Value, off int32) Addr { return Addr{Base: base, Scale: 1, Off: off} }

// AtIndex returns the address base + index*scale + off.
func AtIndex(base, index Value, scale uint8, off int32) Addr {
	return Addr{Base: base, Index: index, Scale: scale, Off: off}
}

// Stmt is one statement of an op's body. Which fields matter depends on
// Kind (see the Kind constants).
type Stmt struct {
	Kind  Kind
	ALU   ALUOp
	Cond  Cond
	Dst   Value
	A     Value
	B     Operand
	Addr  Addr
	Size  uint8 // Load/Store/Commit: 4 or 8
	Type  Type  // Load: type of Dst (Word or Ptr; Size 4 loads are Word)
	Param int   // Arg: index into Op.Params
	Fail  int   // Branch: failure status, 1..len(Op.Fails)
	// Copy: copy Len bytes from Src to Dst's address; Tmp are two
	// scratch values the copy loop clobbers (allocated like any value).
	CopyDst, CopySrc, CopyLen Value
	Tmp                       [2]Value
	// AddTo (Commit only): add A to the word at Addr instead of storing it.
	// amd64 commits with one ADD-to-memory; arm64 loads and adds before
	// the committing store.
	AddTo bool
	// HeapPtr (Store only): A is a Go heap pointer stored into memory the
	// garbage collector scans. Assembly has no write barrier, so such a
	// store is valid only after a WBGuard branch (see below).
	HeapPtr bool
	// WBGuard (Branch only): this branch leaves the section when the Go
	// runtime's write barrier is on (A, a 4-byte load of the flag, != 0).
	// The flag cannot change while an assembly function runs: the runtime
	// flips it only with the world stopped, and an assembly function has
	// no safe point, so between the guard and the op's return every pointer
	// store happens with the barrier off, exactly as compiled Go code would
	// do it without a barrier call.
	WBGuard bool
	// Zero (Store only, with HeapPtr): store nil; A is unused. Clearing a
	// heap pointer needs no barrier while the collector is not marking, so
	// it is also valid only after a WBGuard branch.
	Zero bool
	// UnlessWB (Store only, with Zero): the 4-byte load of the write
	// barrier flag (a Word); the nil store happens only when it is 0 and is
	// skipped while the collector marks (leaving the pointer in place, which
	// needs no barrier). Such a clear needs no WBGuard before it.
	UnlessWB Value
	// SameVal (Branch only, with WBGuard): a guard that does not fail when
	// the flag is on but the 8-byte word at Addr already holds SameVal. A
	// heap pointer store of SameVal at Addr then writes the value that is
	// there, which changes nothing the collector sees; after such a guard
	// the validator allows that store only.
	SameVal Value
	// Global (Global only): the package variable read.
	Global string
}

// Defs returns the values the statement defines.
func (s *Stmt) Defs() []Value {
	switch s.Kind {
	case Arg, ALU, Load, Global:
		return []Value{s.Dst}
	case Copy:
		return []Value{s.Tmp[0], s.Tmp[1]}
	}
	return nil
}

// Uses returns the values the statement reads.
func (s *Stmt) Uses() []Value {
	var u []Value
	addr := func(a Addr) {
		u = append(u, a.Base)
		if a.Index != 0 {
			u = append(u, a.Index)
		}
	}
	switch s.Kind {
	case ALU, Branch:
		u = append(u, s.A)
		if !s.B.IsImm {
			u = append(u, s.B.V)
		}
		if s.Kind == Branch && s.SameVal != 0 {
			addr(s.Addr)
			u = append(u, s.SameVal)
		}
	case Load:
		addr(s.Addr)
	case Store, Commit:
		addr(s.Addr)
		if !s.Zero {
			u = append(u, s.A)
		}
		if s.UnlessWB != 0 {
			u = append(u, s.UnlessWB)
		}
	case Copy:
		u = append(u, s.CopyDst, s.CopySrc, s.CopyLen)
	}
	return u
}

// Param is a parameter of an op, passed in the caller's argument frame.
type Param struct {
	Name string
	Type Type
}

// Result is a value the op returns when it commits.
type Result struct {
	Name string
	V    Value
}

// Op is one per-CPU operation.
type Op struct {
	// Name is the op's Go name stem, e.g. "LoadAddStore": the package
	// calls op<Name> (Go, registers the thread and retries), which calls
	// the asm function zop<Name>.
	Name string
	// Doc is the contract, one or more lines, placed on the declarations.
	Doc string
	// Params in declaration order; one must be "limit" (Word): the number
	// of slots, checked against Idx before the body runs.
	Params  []Param
	Results []Result
	// Fails describes failure status k at Fails[k-1].
	Fails []string
	Body  []Stmt
	// Hot, when not nil, generates the op in the hot calling convention
	// (no limit, idx or status: the limit from a global, every failure a
	// tail jump to a Go slow path) instead of the status protocol.
	Hot *Hot
	// Types of values, indexed by Value (filled by the builder and by
	// Validate). types[Idx] = Word.
	types []Type
	nvals int
}

// TypeOf returns the type of v (valid after Validate).
func (op *Op) TypeOf(v Value) Type {
	if int(v) < len(op.types) {
		return op.types[v]
	}
	return 0
}

// NumValues returns one more than the largest Value in use.
func (op *Op) NumValues() int { return op.nvals }

// Hot describes an op generated in the hot calling convention (DESIGN.md,
// "Hot ops"): one asm function Func with a NOSPLIT $0 frame, the op's
// parameters and results and nothing else (no limit, idx or status). The
// slot index comes from the area field at the offset held in the package
// variable GlobalIndexOffset (cpu_id or mm_cid, chosen at init, as for
// every op), the bound from the package variable Limit (0 sends every call to the slow path,
// before any descriptor is armed). Every failure (no usable area, index
// out of range, any of the op's Fails) leaves by a tail jump to the Go
// function Slow, whose signature must be exactly Func's: it runs as if the
// caller had called it, and its results are the caller's. The generator
// checks Slow's signature against the package's source and the generated
// code asserts it at compile time.
type Hot struct {
	Func  string
	Slow  string
	Limit string
	// SlowBorrows lists the Ptr parameters that Slow only borrows: it
	// neither stores nor returns them, nor anything reachable from them,
	// so the compiler reports them as not escaping. Every other Ptr
	// parameter is taken as kept by Slow, and the op's declaration then
	// lets its pointer arguments escape (see Op.Escapes). A claim about Go
	// code the generator cannot see: rseqoptest.CheckEscapes proves it in
	// the package's tests from the compiler's own escape analysis.
	SlowBorrows []string
}

// LimitParam returns the index of the "limit" parameter, or -1.
func (op *Op) LimitParam() int { return op.param("limit") }

// param returns the index of the parameter name, or -1.
func (op *Op) param(name string) int {
	for i, p := range op.Params {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// String prints the op in a readable form (used in errors and docs).
func (op *Op) String() string {
	s := fmt.Sprintf("op %s(", op.Name)
	for i, p := range op.Params {
		if i > 0 {
			s += ", "
		}
		s += p.Name + " " + p.Type.String()
	}
	s += ")\n"
	for i := range op.Body {
		s += "\t" + op.Body[i].Format(op) + "\n"
	}
	return s
}

func vname(v Value) string {
	if v == Idx {
		return "idx"
	}
	return fmt.Sprintf("v%d", v)
}

func (o Operand) format() string {
	if o.IsImm {
		return fmt.Sprintf("$%d", o.Imm)
	}
	return vname(o.V)
}

func (a Addr) format() string {
	s := "[" + vname(a.Base)
	if a.Index != 0 {
		s += fmt.Sprintf(" + %s*%d", vname(a.Index), a.Scale)
	}
	if a.Off != 0 {
		s += fmt.Sprintf(" + %d", a.Off)
	}
	return s + "]"
}

// Format prints one statement.
func (s *Stmt) Format(op *Op) string {
	switch s.Kind {
	case Arg:
		name := "?"
		if s.Param >= 0 && s.Param < len(op.Params) {
			name = op.Params[s.Param].Name
		}
		return fmt.Sprintf("%s = arg %s", vname(s.Dst), name)
	case ALU:
		return fmt.Sprintf("%s = %s %s, %s", vname(s.Dst), s.ALU, vname(s.A), s.B.format())
	case Load:
		return fmt.Sprintf("%s = load%d %s", vname(s.Dst), s.Size*8, s.Addr.format())
	case Global:
		return fmt.Sprintf("%s = global %s", vname(s.Dst), s.Global)
	case Store:
		if s.Zero && s.UnlessWB != 0 {
			return fmt.Sprintf("if %s == 0 (write barrier off): store%d heap pointer %s = nil", vname(s.UnlessWB), s.Size*8, s.Addr.format())
		}
		if s.Zero {
			return fmt.Sprintf("store%d heap pointer %s = nil", s.Size*8, s.Addr.format())
		}
		if s.HeapPtr {
			return fmt.Sprintf("store%d heap pointer %s = %s", s.Size*8, s.Addr.format(), vname(s.A))
		}
		return fmt.Sprintf("store%d %s = %s", s.Size*8, s.Addr.format(), vname(s.A))
	case Branch:
		if s.WBGuard && s.SameVal != 0 {
			return fmt.Sprintf("if %s %s %s (write barrier on) and load64 %s != %s: fail %d", vname(s.A), s.Cond, s.B.format(), s.Addr.format(), vname(s.SameVal), s.Fail)
		}
		if s.WBGuard {
			return fmt.Sprintf("if %s %s %s (write barrier on): fail %d", vname(s.A), s.Cond, s.B.format(), s.Fail)
		}
		return fmt.Sprintf("if %s %s %s: fail %d", vname(s.A), s.Cond, s.B.format(), s.Fail)
	case Copy:
		return fmt.Sprintf("copy [%s] <- [%s], %s bytes", vname(s.CopyDst), vname(s.CopySrc), vname(s.CopyLen))
	case Commit:
		if s.AddTo {
			return fmt.Sprintf("commit%d %s += %s", s.Size*8, s.Addr.format(), vname(s.A))
		}
		return fmt.Sprintf("commit%d %s = %s", s.Size*8, s.Addr.format(), vname(s.A))
	}
	return fmt.Sprintf("<kind %d>", s.Kind)
}

// Const is a constant a generator declares in the package's zops_table.go:
// a layout assumption of its ops (the offset of a field an op reads, a
// shift), for the package's tests to check against unsafe.Offsetof.
type Const struct {
	Name  string // a Go identifier
	Value int64
	Doc   string // its comment
}

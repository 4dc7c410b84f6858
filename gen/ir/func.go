package ir

import (
	"fmt"

	"github.com/gorseq/rseq/rseqabi"
)

// IndexKind says which field of the rseq area a function indexes by.
type IndexKind struct {
	Suffix string // function name suffix: "CPU" or "MMCID"
	Field  string // "cpu_id" or "mm_cid"
	Offset int    // offset of the field in struct rseq
}

// The two index variants every op is generated in.
var (
	IndexCPU   = IndexKind{Suffix: "CPU", Field: "cpu_id", Offset: rseqabi.OffsetCPUID}
	IndexMMCID = IndexKind{Suffix: "MMCID", Field: "mm_cid", Offset: rseqabi.OffsetMMCID}
	Indexes    = []IndexKind{IndexCPU, IndexMMCID}
	// IndexHot: a hot op's single function reads the field at the offset
	// held in the package variable HotIndexOffset (cpu_id or mm_cid).
	IndexHot = IndexKind{Field: "cpu_id or mm_cid"}
)

// Area layout the prologue uses (struct rseq, from the kernel ABI mirror).
const (
	AreaCPUID = rseqabi.OffsetCPUID // int32 cpu_id: negative when unusable
	AreaCS    = rseqabi.OffsetCS    // u64 rseq_cs
)

// RuntimeGMOffset is the offset of the m field in the Go runtime's g
// structure, which the arm64 prologue reads in builds without cgo (owner
// check). percpu checks the runtime at init and a percpu test ties its own
// constant to this one.
const RuntimeGMOffset = 48

// Status values (DESIGN.md).
const (
	StatusOK           = 0
	StatusUnregistered = -1
	StatusIndexRange   = -2
)

// Function is one generated asm function: an op in one index variant.
type Function struct {
	Op    *Op
	Index IndexKind
	// Num is the function's position in the op table (its abort counter).
	Num int
}

// Name is the Go name, e.g. opLoadAddStoreCPU, or a hot op's Hot.Func.
func (f *Function) Name() string {
	if f.Op.Hot != nil {
		return f.Op.Hot.Func
	}
	return "op" + f.Op.Name + f.Index.Suffix
}

// Desc is the name of the function's rseq_cs descriptor symbol.
func (f *Function) Desc() string { return "zdesc" + f.Op.Name + f.Index.Suffix }

// Slot is one 8-byte slot of the ABI0 argument frame.
type Slot struct {
	Name   string
	Off    int
	GoType string
}

// Frame returns the argument slots (parameters then results: the op's
// results, idx, status; a hot op has no idx and status) and the frame's
// size. Every slot is 8 bytes.
func (f *Function) Frame() (params, results []Slot, size int) {
	off := 0
	for _, p := range f.Op.Params {
		params = append(params, Slot{p.Name, off, p.Type.String()})
		off += 8
	}
	for _, r := range f.Op.Results {
		results = append(results, Slot{r.Name, off, f.Op.TypeOf(r.V).String()})
		off += 8
	}
	if f.Op.Hot != nil {
		return params, results, off
	}
	results = append(results, Slot{"idx", off, "uintptr"}, Slot{"status", off + 8, "int"})
	return params, results, off + 16
}

// Functions returns the generated functions of ops in table order.
func Functions(ops []*Op) []*Function {
	var fs []*Function
	for _, op := range ops {
		if op.Hot != nil {
			fs = append(fs, &Function{Op: op, Index: IndexHot, Num: len(fs)})
			continue
		}
		for _, ix := range Indexes {
			fs = append(fs, &Function{Op: op, Index: ix, Num: len(fs)})
		}
	}
	return fs
}

// GoSignature returns "(params) (results)" for the Go declaration.
func (f *Function) GoSignature() string {
	params, results, _ := f.Frame()
	s := "("
	for i, p := range params {
		if i > 0 {
			s += ", "
		}
		s += p.Name + " " + p.GoType
	}
	s += ")"
	if len(results) == 0 {
		return s
	}
	s += " ("
	for i, r := range results {
		if i > 0 {
			s += ", "
		}
		s += r.Name + " " + r.GoType
	}
	return s + ")"
}

// Markers and signatures the back ends emit and percpu scans for at init.
const (
	// AMD64Start / AMD64PostCommit: 8-byte NOPs, 0F 1F 84 00 + imm32
	// ("rsqS" / "rsqC" in memory).
	AMD64MarkerPrefix uint32 = 0x00841f0f
	AMD64Start        uint32 = 0x53717372
	AMD64PostCommit   uint32 = 0x43717372
	// AMD64SigPrefix: 0F B9 3D, ud1 with a RIP-relative operand whose
	// displacement is the signature 53 30 05 53.
	Signature uint32 = 0x53053053
	// ARM64Start / ARM64PostCommit: ADR XZR, #imm (a no-op).
	ARM64Start      uint32 = 0x10000000 | (0x53a1&3)<<29 | (0x53a1>>2)<<5 | 31
	ARM64PostCommit uint32 = 0x10000000 | (0x43a1&3)<<29 | (0x43a1>>2)<<5 | 31
	// ARM64Signature: BRK #0x45e0, the word before every arm64 abort handler.
	ARM64Signature uint32 = 0xd428bc00
)

// AMD64SigPrefix are the ud1 opcode bytes before the signature.
var AMD64SigPrefix = [3]byte{0x0f, 0xb9, 0x3d}

func (f *Function) String() string { return fmt.Sprintf("%s (#%d)", f.Name(), f.Num) }

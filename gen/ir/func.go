package ir

import (
	"fmt"

	"github.com/gorseq/rseq/rseqabi"
)

// Area layout the prologue uses (struct rseq, from the kernel ABI mirror).
const (
	AreaCPUID = rseqabi.OffsetCPUID // int32 cpu_id: negative when unusable
	AreaCS    = rseqabi.OffsetCS    // u64 rseq_cs
)

// Status values (DESIGN.md).
const (
	StatusOK           = 0
	StatusUnregistered = -1
	StatusIndexRange   = -2
)

// Function is one generated asm function: one per op. Its section indexes
// per-CPU data by the area field at the offset the package variable
// GlobalIndexOffset holds (cpu_id or mm_cid, chosen by rseqop at init).
type Function struct {
	Op *Op
	// Num is the function's position in the op table (its abort counter).
	Num int
}

// Name is the Go name of the asm function: zop<Name> (the package calls
// it through the generated op<Name>, which registers the thread and
// retries), or a hot op's Hot.Func (called directly).
func (f *Function) Name() string {
	if f.Op.Hot != nil {
		return f.Op.Hot.Func
	}
	return AsmPrefix + f.Op.Name
}

// Desc is the name of the function's rseq_cs descriptor symbol.
func (f *Function) Desc() string { return "zdesc" + f.Op.Name }

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
	fs := make([]*Function, len(ops))
	for i, op := range ops {
		fs[i] = &Function{Op: op, Num: i}
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

func (f *Function) String() string { return fmt.Sprintf("%s (#%d)", f.Name(), f.Num) }

// Command genops writes this package's per-CPU operation, LoadMaxStore,
// with gorseq's generator. generate.go runs it (go generate), in the
// package's directory, which is where gen.Main writes the zops_* files.
package main

import (
	"github.com/gorseq/rseq/gen"
	"github.com/gorseq/rseq/gen/ir"
)

// LoadMaxStore stores v in this CPU's word if v is greater: load,
// compare, store if greater, as one critical section.
func LoadMaxStore() *ir.Builder {
	b := ir.New("LoadMaxStore", `stores v at base + idx*stride if v is greater (unsigned) than the word there.
Fails with 1 if the word is already >= v (nothing stored).`)
	base, stride := b.Param("base", ir.Ptr), b.Param("stride", ir.Word)
	b.Param("limit", ir.Word)
	v := b.Param("v", ir.Word)
	notGreater := b.Fail("word >= v")
	// The slot's address comes from the index read inside the section, so
	// a migration between the index load and the commit aborts the section
	// instead of touching another CPU's word.
	s := b.Add(b.Arg(base), ir.V(b.Mul(b.Idx(), ir.V(b.Arg(stride)))))
	w := b.Load(ir.Word, 8, ir.At(s, 0))
	x := b.Arg(v)
	b.BranchFail(w, ir.GEU, ir.V(x), notGreater)
	b.Commit(8, ir.At(s, 0), x) // the last instruction of the section
	return b
}

func main() {
	op, err := LoadMaxStore().Build()
	if err != nil {
		panic(err)
	}
	gen.Main(gen.Config{Ops: []*ir.Op{op}})
}

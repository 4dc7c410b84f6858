// Command genfencetest writes the critical section that rseqop's fence
// tests run (rseqop/internal/fencetest): librseq's memcpy publish
// (gen/ops.LoadCbneMemcpyStore), whose byte copy makes a section as long as
// the test wants. rseqop/internal/fencetest/doc.go runs it:
//
//	//go:generate go -C ../../../gen run ./cmd/genfencetest -dir ../rseqop/internal/fencetest
package main

import (
	"github.com/gorseq/rseq/gen"
	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/gen/ops"
)

func main() {
	op, err := ops.LoadCbneMemcpyStore().Build()
	if err != nil {
		panic(err)
	}
	gen.Main(gen.Config{Ops: []*ir.Op{op}, Generator: "gorseq/gen (go generate ./rseqop/internal/fencetest)"})
}

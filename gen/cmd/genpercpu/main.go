// Command genpercpu writes percpu's per-CPU operations (the zops_* files)
// from their descriptions in gen/ops, through the same public API any
// module uses (gen.Main). percpu/generate.go runs it:
//
//	//go:generate go -C ../gen run ./cmd/genpercpu -dir ../percpu
package main

import (
	"github.com/gorseq/rseq/gen"
	"github.com/gorseq/rseq/gen/ops"
)

func main() {
	gen.Main(gen.Config{Ops: ops.All(), Consts: ops.Consts(), Generator: "gorseq/gen (go generate ./percpu)"})
}

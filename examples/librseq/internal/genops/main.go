// Command genops writes librseq's op set (gen/ops.Librseq) into this
// package with gorseq's generator. generate.go runs it (go generate), in
// the package's directory, which is where gen.Main writes the zops_* files.
package main

import (
	"github.com/gorseq/rseq/gen"
	"github.com/gorseq/rseq/gen/ops"
)

func main() {
	gen.Main(gen.Config{Ops: ops.Librseq()})
}

// Command gen writes gorseq's per-CPU operations from their descriptions
// in gen/ops: amd64 assembly (Avo), arm64 assembly (gen/arm64), the Go
// declarations, the op table and the portable fallbacks. It runs from
// percpu/generate.go:
//
//	go generate ./percpu
//
// See gen/README.md for the IR and how to add an op.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gorseq/rseq/gen/amd64"
	"github.com/gorseq/rseq/gen/arm64"
	"github.com/gorseq/rseq/gen/golang"
	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/gen/ops"
)

// percpuTarget is the package go generate ./percpu writes.
var percpuTarget = golang.Target{Package: "percpu", Path: "github.com/gorseq/rseq/percpu", Generator: "gorseq/gen (go generate ./percpu)"}

func main() {
	out := flag.String("dir", ".", "directory to write the zops_* files to")
	flag.Parse()
	files, err := Generate(ops.All(), percpuTarget)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

// Generate validates ops and returns every generated file by name.
func Generate(all []*ir.Op, t golang.Target) (map[string][]byte, error) {
	seen := map[string]bool{}
	for _, op := range all {
		if err := op.Validate(); err != nil {
			return nil, err
		}
		if seen[op.Name] {
			return nil, fmt.Errorf("op %q described twice", op.Name)
		}
		seen[op.Name] = true
	}
	fns := ir.Functions(all)
	files := map[string][]byte{}
	var err error
	if files["zops_amd64.s"], err = amd64.Generate(fns, t.Generator); err != nil {
		return nil, err
	}
	if files["zops_arm64.s"], err = arm64.Generate(fns, t.Generator); err != nil {
		return nil, err
	}
	if files["zops_asm.go"], err = golang.Asm(fns, t); err != nil {
		return nil, err
	}
	if files["zops_noasm.go"], err = golang.NoAsm(fns, t); err != nil {
		return nil, err
	}
	if files["zops_table.go"], err = golang.Table(fns, t); err != nil {
		return nil, err
	}
	if files["zops_fallback.go"], err = golang.Fallback(all, t); err != nil {
		return nil, err
	}
	return files, nil
}

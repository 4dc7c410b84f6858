package rseqop

import (
	"sync/atomic"

	"github.com/gorseq/rseq/rseqabi"
)

// OpStat describes one generated per-CPU operation in one index variant.
type OpStat struct {
	// Package is the import path of the package the op was generated into.
	Package string
	// Name is the op, e.g. "LoadAddLoadLoadAddStore" (gen/ops).
	Name string
	// Func is the generated asm function, e.g. "zopLoadAddLoadLoadAddStore"
	// (a hot op's: the name its description gives).
	Func string
	// Index is the area field the op indexes per-CPU data by in this
	// process: "cpu_id" or "mm_cid" (every op reads the same one).
	Index string
	// Fails describes the op's failure statuses: Fails[k-1] is status k.
	Fails []string
	// NoEscape says that the op's Go declaration is //go:noescape (no
	// pointer argument outlives the call); Slow names a hot op's Go slow
	// path ("" for other ops).
	NoEscape bool
	Slow     string
	// Descriptor is the rseq_cs as armed; all zero when the package's
	// generated ops were rejected or do not exist in this build.
	Descriptor rseqabi.CriticalSection
	// Aborts counts the restarts the op's abort handler has taken since
	// the process started.
	Aborts uint64
	// Err says why the package's ops do not run, or is nil.
	Err error
}

// OpStats lists the generated functions of every package that registered
// its ops (Register), package by package in registration order, each in the
// order of its op table.
func OpStats() []OpStat {
	registered.Lock()
	defer registered.Unlock()
	var out []OpStat
	for _, r := range registered.pkgs {
		for i, f := range r.ops.Funcs {
			out = append(out, OpStat{
				Package: r.ops.Package, Name: f.Op, Func: f.Name, Index: indexField(), Fails: f.Fails,
				NoEscape: f.NoEscape, Slow: f.Slow, Descriptor: r.descs[i], Aborts: r.aborts(i), Err: r.err,
			})
		}
	}
	return out
}

// Aborts returns the abort count of the op of package pkg (an import path)
// named fn, by its op name ("LoadMaxStore") or its function's
// ("zopLoadMaxStore", a hot op's own name), and whether it is registered: the
// evidence a test needs that an op's abort path ran. Tests poll it in
// their loops: it reads the one counter, without building OpStats.
func Aborts(pkg, fn string) (uint64, bool) {
	registered.Lock()
	defer registered.Unlock()
	for _, r := range registered.pkgs {
		if r.ops.Package != pkg {
			continue
		}
		for i, f := range r.ops.Funcs {
			if f.Name == fn || f.Op == fn {
				return r.aborts(i), true
			}
		}
	}
	return 0, false
}

// aborts is the abort count of function i (0 where a refused table has no
// counter for it).
func (r *registration) aborts(i int) uint64 {
	if i < len(r.ops.Aborts) {
		return atomic.LoadUint64(&r.ops.Aborts[i])
	}
	return 0
}

package rseqop

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// kernelFields are the struct rseq fields the kernel owns (rseqabi.Area):
// gorseq may write them only in an area no thread has registered (before
// registration, after a refused one, after unregistering), never relying
// on the kernel to rewrite them (Linux 6.19 stopped rewriting them on every
// return to user space; DESIGN.md, "What gorseq reads and writes in struct
// rseq").
var kernelFields = map[string]bool{"CPUIDStart": true, "CPUID": true, "NodeID": true, "MMCID": true}

// kernelFieldWriters are the functions allowed to write a kernel-owned
// field, each on an area that is not registered at that point.
var kernelFieldWriters = map[string]string{
	"ownership_self.go:register:CPUID":            "the kernel refused the registration: marks the record stray (-2)",
	"ownership_self.go:allocRecordLocked:CPUID":   "a free record, before its registration (-1)",
	"ownership_self.go:freeRecordLocked:CPUID":    "a record whose thread unregistered it or exited (-1)",
	"libc_cgo.go:gorseq_legacy_register:cpu_id":   "__rseq_abi after the kernel refused it (-2, the 2020 protocol)",
	"libc_cgo.go:gorseq_legacy_unregister:cpu_id": "__rseq_abi after the last reference unregistered it (-1)",
}

// TestKernelFieldsWrittenOnlyUnregistered scans the library's Go and C
// sources (rseqop, rseqabi, rseqabi/libc, percpu) for writes of a
// kernel-owned field and requires each to be in kernelFieldWriters. The
// generated critical sections are checked by gen's CheckStructure (they
// read cpu_id and the index field, and write only rseq_cs).
func TestKernelFieldsWrittenOnlyUnregistered(t *testing.T) {
	if _, err := os.Stat("ownership_self.go"); err != nil {
		t.Skip("the sources are not here (a test binary in a VM): the host legs scan them")
	}
	found := map[string]bool{}
	for _, dir := range []string{".", "../rseqabi", "../rseqabi/libc", "../percpu"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			for _, w := range kernelFieldWrites(t, path) {
				found[w] = true
				if _, ok := kernelFieldWriters[w]; !ok {
					t.Errorf("%s writes a field of struct rseq that the kernel owns; allowed only on an area that is not registered (add it to kernelFieldWriters with the reason if it is so)", w)
				}
			}
		}
	}
	for w := range kernelFieldWriters {
		if !found[w] {
			t.Errorf("kernelFieldWriters lists %s, which writes no kernel-owned field any more", w)
		}
	}
}

// cWrite matches a C assignment to a kernel-owned field of __rseq_abi.
var cWrite = regexp.MustCompile(`__rseq_abi\.(cpu_id_start|cpu_id|node_id|mm_cid)\s*=[^=]`)

// kernelFieldWrites returns "file:function:field" for every write of a
// kernel-owned field in the Go file path, and in the C code of its cgo
// preamble.
func kernelFieldWrites(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(path)
	var out []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			var targets []ast.Expr
			switch n := n.(type) {
			case *ast.AssignStmt:
				targets = n.Lhs
			case *ast.IncDecStmt:
				targets = []ast.Expr{n.X}
			case *ast.CallExpr: // atomic.StoreUint32(&a.CPUID, v) and the like
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && len(n.Args) > 0 && (strings.HasPrefix(sel.Sel.Name, "Store") || strings.HasPrefix(sel.Sel.Name, "Swap") || strings.HasPrefix(sel.Sel.Name, "CompareAndSwap") || strings.HasPrefix(sel.Sel.Name, "Add")) {
					if u, ok := n.Args[0].(*ast.UnaryExpr); ok && u.Op == token.AND {
						targets = []ast.Expr{u.X}
					}
				}
			}
			for _, e := range targets {
				if sel, ok := e.(*ast.SelectorExpr); ok && kernelFields[sel.Sel.Name] {
					out = append(out, base+":"+fd.Name.Name+":"+sel.Sel.Name)
				}
			}
			return true
		})
	}
	// The cgo preamble: attribute each C write to the C function around it.
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn := ""
	cFunc := regexp.MustCompile(`^(?:static\s+)?[a-z_0-9 ]+[ *]([a-z_0-9]+)\([^;]*\)\s*\{`)
	for _, line := range strings.Split(string(src), "\n") {
		if m := cFunc.FindStringSubmatch(line); m != nil {
			fn = m[1]
		}
		for _, m := range cWrite.FindAllStringSubmatch(line, -1) {
			out = append(out, base+":"+fn+":"+m[1])
		}
	}
	return out
}

package gen

import (
	"bytes"
	"errors"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gorseq/rseq/gen/internal/amd64"
	"github.com/gorseq/rseq/gen/internal/arm64"
	"github.com/gorseq/rseq/gen/internal/golang"
	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/gen/ops"
)

// percpuTarget is what cmd/genpercpu generates percpu as.
var percpuTarget = golang.Target{Package: "percpu", Path: "github.com/gorseq/rseq/percpu", Generator: "gorseq/gen (go generate ./percpu)"}

// TestGeneratedUpToDate is check-generated as a test: the committed
// percpu/zops_* files are what the generator writes now.
func TestGeneratedUpToDate(t *testing.T) {
	files, err := generateFiles(ops.All(), percpuTarget, ops.Consts())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "percpu", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("percpu/%s is stale: run go generate ./percpu", name)
		}
	}
}

func TestStructure(t *testing.T) {
	checkAsm(t, ir.Functions(ops.All()))
	checkAsm(t, ir.Functions(ops.Librseq()))
}

func checkAsm(t *testing.T, fns []*ir.Function) {
	t.Helper()
	a, err := amd64.Generate(fns, "test")
	if err != nil {
		t.Fatalf("amd64: %v", err)
	}
	b, err := arm64.Generate(fns, "test")
	if err != nil {
		t.Fatalf("arm64: %v", err)
	}
	for arch, text := range map[string][]byte{"amd64": a, "arm64": b} {
		byName := splitFunctions(string(text))
		for _, f := range fns {
			body, ok := byName[f.Name()]
			if !ok {
				t.Fatalf("%s: no function %s", arch, f.Name())
			}
			if err := checkStructure(arch, body, f); err != nil {
				t.Errorf("%s: %v\n%s", arch, err, body)
			}
		}
	}
}

// checkFallback type-checks the generated fallback of ops against stubs of
// the statuses (zops_table.go) and the real rseqop.
var (
	fallbackImporter     types.Importer
	fallbackImporterOnce sync.Once
)

const fallbackStubs = `package percpu
const (zopStatusOK = 0; zopStatusUnregistered = -1; zopStatusIndexRange = -2)
`

func checkFallback(t *testing.T, all []*ir.Op) {
	t.Helper()
	src, err := golang.Fallback(all, golang.Target{Package: "percpu", Generator: "test"})
	if err != nil {
		t.Fatalf("fallback: %v", err)
	}
	fallbackImporterOnce.Do(func() { fallbackImporter = importer.ForCompiler(token.NewFileSet(), "source", nil) })
	fset := token.NewFileSet()
	var files []*ast.File
	for name, s := range map[string]string{"fb.go": string(src), "stubs.go": fallbackStubs} {
		f, err := parser.ParseFile(fset, name, s, 0)
		if err != nil {
			t.Fatalf("parse %s: %v\n%s", name, err, s)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: fallbackImporter}
	if _, err := conf.Check("percpu", fset, files, nil); err != nil {
		t.Fatalf("fallback does not type-check: %v\n%s", err, src)
	}
}

func TestFallbackTypeChecks(t *testing.T) {
	checkFallback(t, ops.All())
	checkFallback(t, ops.Librseq())
}

// TestValidateRejects lists malformed ops and the error each must get.
func TestValidateRejects(t *testing.T) {
	base := func() *ir.Builder {
		b := ir.New("Bad", "a test op")
		b.Param("base", ir.Ptr)
		b.Param("limit", ir.Word)
		return b
	}
	cases := []struct {
		name string
		make func() *ir.Op
		want string
	}{
		{"fadd of a Word", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			w := b.Load(ir.Word, 8, ir.At(p, 0))
			b.Commit(8, ir.At(p, 0), b.ALU(ir.FAdd, w, ir.V(w)))
			return b.Op()
		}, "fadd adds two Float values"},
		{"add of a Float", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			f := b.Load(ir.Float, 8, ir.At(p, 0))
			b.Commit(8, ir.At(p, 0), b.Add(f, ir.Imm(1)))
			return b.Op()
		}, "only fadd takes Floats"},
		{"branch on a Float", func() *ir.Op {
			b := base()
			b.Fail("nan")
			p := b.Arg(0)
			f := b.Load(ir.Float, 8, ir.At(p, 0))
			b.BranchFail(f, ir.EQ, ir.Imm(0), 1)
			b.Commit(8, ir.At(p, 0), f)
			return b.Op()
		}, "compares a Float"},
		{"commit adds a Float", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			f := b.Load(ir.Float, 8, ir.At(p, 0))
			b.CommitAdd(8, ir.At(p, 0), f)
			return b.Op()
		}, "commit adds a float64"},
		{"4-byte Float load", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.Commit(8, ir.At(p, 0), b.Load(ir.Float, 4, ir.At(p, 0)))
			return b.Op()
		}, "a 4-byte load gives a Word"},
		{"no commit", func() *ir.Op {
			b := base()
			b.Load(ir.Word, 8, ir.At(b.Arg(0), 0))
			return b.Op()
		}, "commit"},
		{"two commits", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			b.Commit(8, ir.At(p, 8), ir.Idx)
			return b.Op()
		}, "not the last statement"},
		{"store after commit", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			b.Store(8, ir.At(p, 8), ir.Idx)
			return b.Op()
		}, "not the last statement"},
		{"no limit", func() *ir.Op {
			b := ir.New("Bad", "doc")
			p := b.Arg(b.Param("base", ir.Ptr))
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, `no "limit"`},
		{"deref a word", func() *ir.Op {
			b := base()
			w := b.Arg(1)
			b.Commit(8, ir.At(w, 0), ir.Idx)
			return b.Op()
		}, "not a Ptr"},
		{"use before def", func() *ir.Op {
			b := base()
			op := b.Op()
			op.Body = append(op.Body, ir.Stmt{Kind: ir.Commit, Addr: ir.At(7, 0), A: ir.Idx, Size: 8})
			return op
		}, "before it is defined"},
		{"undeclared failure", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.BranchFail(ir.Idx, ir.EQ, ir.Imm(0), 1)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "not declared"},
		{"unused failure", func() *ir.Op {
			b := base()
			b.Fail("never")
			p := b.Arg(0)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "never taken"},
		{"bad size", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.Commit(2, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "size 2"},
		{"reserved param", func() *ir.Op {
			b := base()
			b.Param("status", ir.Word)
			p := b.Arg(0)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "reserved"},
		{"heap pointer store without guard", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.StoreHeapPointer(ir.At(p, 8), p)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "without a write barrier guard"},
		{"heap pointer store before its guard", func() *ir.Op {
			b := base()
			f := b.Param("flag", ir.Ptr)
			barrier := b.Fail("write barrier on")
			p := b.Arg(0)
			b.StoreHeapPointer(ir.At(p, 8), p)
			b.FailIfWriteBarrier(f, barrier)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "without a write barrier guard"},
		{"guard on an 8-byte load", func() *ir.Op {
			b := base()
			barrier := b.Fail("write barrier on")
			p := b.Arg(0)
			on := b.Load(ir.Word, 8, ir.At(p, 0))
			op := b.Op()
			op.Body = append(op.Body, ir.Stmt{Kind: ir.Branch, A: on, Cond: ir.NE, B: ir.Imm(0), Fail: barrier, WBGuard: true},
				ir.Stmt{Kind: ir.Commit, Addr: ir.At(p, 0), A: ir.Idx, Size: 8})
			return op
		}, "write barrier guard branches on a 4-byte load"},
		{"heap pointer commit", func() *ir.Op {
			b := base()
			f := b.Param("flag", ir.Ptr)
			barrier := b.Fail("write barrier on")
			b.FailIfWriteBarrier(f, barrier)
			p := b.Arg(0)
			op := b.Op()
			op.Body = append(op.Body, ir.Stmt{Kind: ir.Commit, Addr: ir.At(p, 0), A: p, Size: 8, HeapPtr: true})
			return op
		}, "only a speculative store"},
		{"nil store without guard", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			b.ClearHeapPointer(ir.At(p, 8))
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "without a write barrier guard"},
		{"another store after a same-value guard", func() *ir.Op {
			b := base()
			marking := b.Fail("write barrier on")
			p := b.Arg(0)
			x := b.Load(ir.Ptr, 8, ir.At(p, 16))
			b.FailIfWriteBarrierUnlessSame(b.WriteBarrierGlobal("wbFlag"), ir.At(p, 8), x, marking)
			b.StoreHeapPointer(ir.At(p, 24), x) // not the word the guard compared
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "only the store of"},
		{"nil store after a same-value guard", func() *ir.Op {
			b := base()
			marking := b.Fail("write barrier on")
			p := b.Arg(0)
			x := b.Load(ir.Ptr, 8, ir.At(p, 16))
			b.FailIfWriteBarrierUnlessSame(b.WriteBarrierGlobal("wbFlag"), ir.At(p, 8), x, marking)
			b.ClearHeapPointer(ir.At(p, 8))
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "only the store of"},
		{"same-value guard comparing a Word", func() *ir.Op {
			b := base()
			marking := b.Fail("write barrier on")
			p := b.Arg(0)
			w := b.Load(ir.Word, 8, ir.At(p, 16))
			b.FailIfWriteBarrierUnlessSame(b.WriteBarrierGlobal("wbFlag"), ir.At(p, 8), w, marking)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "is a Ptr"},
		{"clear unless marking on an 8-byte flag", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			on := b.Load(ir.Word, 8, ir.At(p, 16))
			b.ClearHeapPointerUnlessWriteBarrier(ir.At(p, 8), on)
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "4-byte load of the flag"},
		{"pointer store skipped while marking", func() *ir.Op {
			b := base()
			p := b.Arg(0)
			on := b.WriteBarrierGlobal("wbFlag")
			op := b.Op()
			op.Body = append(op.Body, ir.Stmt{Kind: ir.Store, Addr: ir.At(p, 8), A: p, Size: 8, UnlessWB: on},
				ir.Stmt{Kind: ir.Commit, Addr: ir.At(p, 0), A: ir.Idx, Size: 8})
			return op
		}, "only a heap pointer clear"},
		{"hot op jumping to itself", func() *ir.Op {
			b := ir.New("Bad", "a test op")
			b.Hot(ir.Hot{Func: "badOp", Slow: "badOp", Limit: "badSlots"})
			p := b.Arg(b.Param("base", ir.Ptr))
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "both"},
		{"hot op with an exported slow path", func() *ir.Op {
			b := ir.New("Bad", "a test op")
			b.Hot(ir.Hot{Func: "badOp", Slow: "BadSlow", Limit: "badSlots"})
			p := b.Arg(b.Param("base", ir.Ptr))
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "lower-case"},
		{"global with a reserved name", func() *ir.Op {
			b := base()
			g := b.Global("status", ir.Ptr)
			b.Commit(8, ir.At(g, 0), ir.Idx)
			return b.Op()
		}, "reserved"},
		{"too many registers", func() *ir.Op {
			b := base()
			var vs []ir.Value
			for i := 0; i < ir.MaxRegs+1; i++ {
				vs = append(vs, b.Arg(1))
			}
			p := b.Arg(0)
			for _, v := range vs {
				b.Store(8, ir.At(p, 0), v)
			}
			b.Commit(8, ir.At(p, 0), ir.Idx)
			return b.Op()
		}, "registers"},
	}
	for _, c := range cases {
		err := c.make().Validate()
		var ie *ir.Error
		if err == nil || !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an *ir.Error containing %q", c.name, err, c.want)
		}
	}
}

// TestStructureRejectsAreaAccess: checkStructure refuses a function that
// reads cpu_id_start or writes a field the kernel owns, in either back end:
// gorseq relies on no more of struct rseq than DESIGN.md says.
func TestStructureRejectsAreaAccess(t *testing.T) {
	fns := ir.Functions(ops.All())
	f := fns[0]
	for arch, bad := range map[string][]string{
		"amd64": {"MOVL (AX), BX", "MOVL 0(AX), BX", "MOVL BX, 4(AX)", "MOVL $0xffffffff, 4(AX)", "MOVL 20(AX), BX", "MOVQ $0, 8(AX)"},
		"arm64": {"MOVWU (R0), R1", "MOVW R1, 4(R0)", "MOVWU 20(R0), R1", "MOVD ZR, 8(R0)"},
	} {
		var text []byte
		var err error
		if arch == "amd64" {
			text, err = amd64.Generate([]*ir.Function{f}, "test")
		} else {
			text, err = arm64.Generate([]*ir.Function{f}, "test")
		}
		if err != nil {
			t.Fatal(err)
		}
		body := splitFunctions(string(text))[f.Name()]
		if err := checkStructure(arch, body, f); err != nil {
			t.Fatalf("%s: the unmodified function fails: %v", arch, err)
		}
		retry := "retry:\n"
		if !strings.Contains(body, retry) {
			t.Fatalf("%s: no retry label in:\n%s", arch, body)
		}
		for _, insn := range bad {
			mod := strings.Replace(body, retry, retry+"\t"+insn+"\n", 1)
			if err := checkStructure(arch, mod, f); err == nil || !strings.Contains(err.Error(), "touches the rseq area") {
				t.Errorf("%s: %q accepted (err %v)", arch, insn, err)
			}
		}
	}
}

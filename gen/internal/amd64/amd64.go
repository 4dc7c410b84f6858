// Package amd64 lowers gorseq ops to amd64 Go assembly with Avo.
//
// Avo is used programmatically: one build.Context, functions with explicit
// signatures, physical registers only (the IR layer has allocated them), and
// Avo's compile passes and printer. Bytes the Go assembler has no syntax for
// (FS:0, markers, the ud1 signature) are emitted as BYTE/LONG directives.
package amd64

import (
	"fmt"
	"go/token"
	"go/types"
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	avoir "github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"

	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/internal/arch"
)

// row is amd64's entry in the architecture table: markers, signature.
var row, _ = arch.Lookup("amd64")

// Registers: the IR's register indices map to regs; area holds the rseq
// area from the prologue to the end (retry needs it); scratch is for
// immediates that do not fit 32 bits and the descriptor address.
var (
	regs    = []reg.GPPhysical{reg.RBX, reg.RCX, reg.RDX, reg.RSI, reg.RDI, reg.R8, reg.R9, reg.R10, reg.R11, reg.R12, reg.R13}
	area    = reg.RAX
	scratch = reg.R14
)

func init() {
	if len(regs) < ir.MaxRegs {
		panic("amd64: fewer registers than ir.MaxRegs")
	}
}

// Generate returns the amd64 assembly file for fns.
func Generate(fns []*ir.Function, generator string) ([]byte, error) {
	ctx := build.NewContext()
	ctx.ConstraintExpr("linux,!purego")
	pkg := types.NewPackage("github.com/gorseq/rseq/percpu", "percpu")
	pkg.Scope().Insert(types.NewPkgName(token.NoPos, pkg, "unsafe", types.Unsafe))
	for _, f := range fns {
		if err := function(ctx, pkg, f); err != nil {
			return nil, fmt.Errorf("amd64: %s: %w", f.Name(), err)
		}
	}
	addrs(ctx, pkg, fns)
	file, err := ctx.Result()
	if err != nil {
		return nil, fmt.Errorf("amd64: %w", err)
	}
	for _, f := range fns {
		g := avoir.NewStaticGlobal(f.Desc())
		g.Attributes = attr.NOPTR
		g.Grow(32)
		file.AddSection(g)
	}
	if err := pass.Compile.Execute(file); err != nil {
		return nil, fmt.Errorf("amd64: avo passes: %w", err)
	}
	p := printer.NewGoAsm(printer.Config{Name: generator, Pkg: "percpu"})
	return p.Print(file)
}

func sig(ctx *build.Context, pkg *types.Package, s string) {
	gs, err := gotypesParse(pkg, s)
	if err != nil {
		panic(err)
	}
	ctx.Signature(gs)
}

func sym(name string) operand.Mem {
	return operand.Mem{Symbol: operand.Symbol{Name: name}, Base: reg.StaticBase}
}

func staticSym(name string) operand.Mem {
	return operand.Mem{Symbol: operand.NewStaticSymbol(name), Base: reg.StaticBase}
}

func raw(ctx *build.Context, bs ...byte) {
	for _, b := range bs {
		ctx.Instruction(&avoir.Instruction{Opcode: "BYTE", Operands: []operand.Op{operand.U8(b)}})
	}
}

func long(ctx *build.Context, x uint32) {
	ctx.Instruction(&avoir.Instruction{Opcode: "LONG", Operands: []operand.Op{operand.U32(x)}})
}

// words emits ws as LONG directives (an instruction in little-endian words).
func words(ctx *build.Context, ws []uint32) {
	for _, w := range ws {
		long(ctx, w)
	}
}

// addrs emits zopAddrs, which returns the ABI0 entry of every function and
// the address of its descriptor.
func addrs(ctx *build.Context, pkg *types.Package, fns []*ir.Function) {
	ctx.Function(ir.Addrs)
	ctx.Attributes(attr.NOSPLIT)
	n := len(fns)
	sig(ctx, pkg, fmt.Sprintf("func(fns, descs *[%d]unsafe.Pointer)", n))
	ctx.Doc(ir.Addrs + " stores the ABI0 entry of every generated function in fns and the address of its rseq_cs descriptor in descs, in op table order.")
	ctx.Load(ctx.Param("fns"), reg.RDI)
	ctx.Load(ctx.Param("descs"), reg.RSI)
	for i, f := range fns {
		ctx.LEAQ(sym("·"+f.Name()), reg.RAX)
		ctx.MOVQ(reg.RAX, operand.Mem{Base: reg.RDI, Disp: 8 * i})
		ctx.LEAQ(staticSym(f.Desc()), reg.RAX)
		ctx.MOVQ(reg.RAX, operand.Mem{Base: reg.RSI, Disp: 8 * i})
	}
	ctx.RET()
}

type gen struct {
	ctx  *build.Context
	f    *ir.Function
	op   *ir.Op
	r    []int
	ncpy int
	nwb  int // labels of write barrier tests
	// folded maps a value defined by an Arg that is read only once, as the
	// B operand of the next statement, to its argument slot: that
	// statement reads the argument from memory directly.
	folded map[ir.Value]operand.Mem
}

func (g *gen) reg(v ir.Value) reg.GPPhysical { return regs[g.r[v]] }

func (g *gen) mem(a ir.Addr) operand.Mem {
	m := operand.Mem{Base: g.reg(a.Base), Disp: int(a.Off)}
	if a.Index != 0 {
		m.Index = g.reg(a.Index)
		m.Scale = a.Scale
	}
	return m
}

func fits32(x int64) bool { return x >= math.MinInt32 && x <= math.MaxInt32 }

// operand returns x as an instruction operand, going through scratch when
// an immediate does not fit a sign-extended 32-bit field.
func (g *gen) operand(x ir.Operand) operand.Op {
	if !x.IsImm {
		if m, ok := g.folded[x.V]; ok {
			return m
		}
		return g.reg(x.V)
	}
	if fits32(x.Imm) {
		return operand.I32(int32(x.Imm))
	}
	g.ctx.MOVQ(operand.I64(x.Imm), scratch)
	return scratch
}

func (g *gen) result(name string) operand.Mem {
	b, err := g.ctx.Return(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func function(ctx *build.Context, pkg *types.Package, f *ir.Function) error {
	op := f.Op
	g := &gen{ctx: ctx, f: f, op: op, r: op.Regs()}
	ctx.Function(f.Name())
	ctx.Attributes(attr.NOSPLIT)
	sig(ctx, pkg, "func"+f.GoSignature())
	ctx.Doc(fmt.Sprintf("%s: see the Go declaration.", f.Name()))
	idx := g.reg(ir.Idx)

	hot := op.Hot != nil
	unregistered, indexrange := "unregistered", "indexrange"
	if hot {
		// Every failure leaves through the one tail jump to the slow path.
		unregistered, indexrange = "slow", "slow"
		ctx.Comment("hot op: the slow path takes every call while " + op.Hot.Limit + " is 0 (no descriptor armed)")
		ctx.CMPQ(sym("·"+op.Hot.Limit), operand.Imm(0))
		ctx.JEQ(operand.LabelRef("slow"))
	}
	ctx.Comment("area = thread word (MOVQ FS:0, AX) + " + ir.GlobalAreaOffset + "; unusable if 0, if the")
	ctx.Comment("ownership word (" + ir.GlobalOwnerOffset + " != 0: cgo ModeShared) is not > 0, if")
	ctx.Comment(ir.GlobalOwnerOffset + " is all ones (the package's ops are disabled), or if cpu_id < 0")
	raw(ctx, 0x64, 0x48, 0x8b, 0x04, 0x25)
	long(ctx, 0)
	ctx.TESTQ(area, area)
	ctx.JZ(operand.LabelRef(unregistered))
	ctx.CMPQ(sym("·"+ir.GlobalOwnerOffset), operand.Imm(0))
	ctx.JNE(operand.LabelRef("ownercheck")) // out of line: no taken branch where there is no ownership word
	ctx.Label("owned")
	ctx.ADDQ(sym("·"+ir.GlobalAreaOffset), area)
	ctx.CMPL(operand.Mem{Base: area, Disp: ir.AreaCPUID}, operand.Imm(0))
	ctx.JLT(operand.LabelRef(unregistered))
	ctx.Label("retry")
	ctx.LEAQ(staticSym(f.Desc()), scratch)
	ctx.MOVQ(scratch, operand.Mem{Base: area, Disp: ir.AreaCS})
	ctx.Comment("start_ip marker: NOPL with immediate \"rsqS\"")
	words(ctx, row.StartMarker)
	ctx.MOVQ(sym("·"+ir.GlobalIndexOffset), scratch)
	ctx.MOVL(operand.Mem{Base: area, Index: scratch, Scale: 1}, idx.As32())
	if hot {
		ctx.CMPQ(idx, sym("·"+op.Hot.Limit))
	} else {
		lb, err := ctx.Param("limit").Resolve()
		if err != nil {
			return err
		}
		ctx.CMPQ(idx, lb.Addr)
	}
	ctx.JCC(operand.LabelRef(indexrange))
	g.fold()
	for i := range op.Body {
		if s := &op.Body[i]; s.Kind == ir.Arg {
			if _, ok := g.folded[s.Dst]; ok {
				continue
			}
		}
		if err := g.stmt(&op.Body[i]); err != nil {
			return fmt.Errorf("statement %d: %w", i, err)
		}
	}
	ctx.Comment("post_commit_ip marker: NOPL with immediate \"rsqC\"")
	words(ctx, row.PostCommitMarker)
	for _, r := range op.Results {
		ctx.MOVQ(g.reg(r.V), g.result(r.Name))
	}
	if hot {
		ctx.RET()
		g.ownerCheck("slow")
		ctx.Label("slow")
		ctx.Comment("tail jump: " + op.Hot.Slow + " has this function's frame and returns to our caller")
		// Written as a bare instruction: Avo's control flow pass only
		// knows branches to labels.
		ctx.Instruction(&avoir.Instruction{Opcode: "JMP", Operands: []operand.Op{sym("·" + op.Hot.Slow)}, IsTerminal: true})
		g.signature()
		return nil
	}
	g.exit(idx, ir.StatusOK, false)
	for k := range op.Fails {
		ctx.Label(fmt.Sprintf("fail%d", k+1))
		g.exit(idx, k+1, true)
	}
	ctx.Label("indexrange")
	g.exit(idx, ir.StatusIndexRange, true)
	g.ownerCheck("unregistered")
	ctx.Label("unregistered")
	g.exit(nil, ir.StatusUnregistered, true)
	g.signature()
	return nil
}

// ownerCheck emits the out-of-line ownership word check: to unusable if
// the ownership offset is all ones (rseqop.OwnerDisabled: the package's ops
// never run), back to owned if the word is > 0, else on into the code that
// follows (the unusable-area exit, unusable).
func (g *gen) ownerCheck(unusable string) {
	ctx := g.ctx
	ctx.Label("ownercheck")
	ctx.MOVQ(sym("·"+ir.GlobalOwnerOffset), scratch)
	ctx.CMPQ(scratch, operand.I32(-1))
	ctx.JEQ(operand.LabelRef(unusable))
	ctx.CMPQ(operand.Mem{Base: area, Index: scratch, Scale: 1}, operand.Imm(0))
	ctx.JG(operand.LabelRef("owned"))
}

// signature emits the abort signature and the abort handler.
func (g *gen) signature() {
	ctx, f := g.ctx, g.f
	ctx.Comment("abort signature: ud1 0x53053053(%rip), %edi; abort_ip follows")
	raw(ctx, row.SignaturePrefix...)
	long(ctx, row.Signature)
	// The address goes through a register so that LOCK stays the prefix of
	// INCQ even where dynamic linking rewrites a global access into a GOT
	// load followed by the access.
	ctx.LEAQ(operand.Mem{Symbol: operand.Symbol{Name: "·" + ir.Aborts}, Base: reg.StaticBase, Disp: 8 * f.Num}, scratch)
	ctx.Instruction(&avoir.Instruction{Opcode: "LOCK"})
	ctx.INCQ(operand.Mem{Base: scratch})
	ctx.JMP(operand.LabelRef("retry"))
}

// fold finds the Arg statements whose value is read once, as the register
// B operand of the next ALU (Add, Sub, Mul, And, Or) or Branch: amd64 can
// take that operand from memory, which saves a load into a register.
func (g *gen) fold() {
	g.folded = map[ir.Value]operand.Mem{}
	uses := map[ir.Value]int{}
	for i := range g.op.Body {
		for _, v := range g.op.Body[i].Uses() {
			uses[v]++
		}
	}
	for _, r := range g.op.Results {
		uses[r.V]++
	}
	body := g.op.Body
	for i := 0; i+1 < len(body); i++ {
		a, next := &body[i], &body[i+1]
		if a.Kind != ir.Arg || uses[a.Dst] != 1 || next.B.IsImm || next.B.V != a.Dst || next.A == a.Dst {
			continue
		}
		ok := next.Kind == ir.Branch
		if next.Kind == ir.ALU {
			switch next.ALU {
			case ir.Add, ir.Sub, ir.Mul, ir.And, ir.Or:
				ok = true
			}
		}
		if !ok {
			continue
		}
		b, err := g.ctx.Param(g.op.Params[a.Param].Name).Resolve()
		if err != nil {
			continue
		}
		g.folded[a.Dst] = b.Addr
	}
}

// exit stores idx (or 0), the status and, when zero is set, zero results.
func (g *gen) exit(idx operand.Op, status int, zero bool) {
	if zero {
		for _, r := range g.op.Results {
			g.ctx.MOVQ(operand.I32(0), g.result(r.Name))
		}
	}
	if idx == nil {
		idx = operand.I32(0)
	}
	g.ctx.MOVQ(idx, g.result("idx"))
	g.ctx.MOVQ(operand.I32(int32(status)), g.result("status"))
	g.ctx.RET()
}

var jumps = map[ir.Cond]func(*build.Context, operand.Op){
	ir.EQ: (*build.Context).JEQ, ir.NE: (*build.Context).JNE,
	ir.LTU: (*build.Context).JCS, ir.GEU: (*build.Context).JCC,
	ir.LEU: (*build.Context).JLS, ir.GTU: (*build.Context).JHI,
	ir.LT: (*build.Context).JLT, ir.GE: (*build.Context).JGE,
}

func (g *gen) stmt(s *ir.Stmt) error {
	ctx := g.ctx
	switch s.Kind {
	case ir.Arg:
		b, err := ctx.Param(g.op.Params[s.Param].Name).Resolve()
		if err != nil {
			return err
		}
		ctx.MOVQ(b.Addr, g.reg(s.Dst))
	case ir.ALU:
		d := g.reg(s.Dst)
		if s.ALU == ir.FAdd {
			// The 64 bits through X0 and X1 (X15 is ABIInternal's zero
			// register: never touched).
			ctx.MOVQ(g.reg(s.A), reg.X0)
			ctx.MOVQ(g.operand(s.B), reg.X1)
			ctx.ADDSD(reg.X1, reg.X0)
			ctx.MOVQ(reg.X0, d)
			return nil
		}
		if s.ALU == ir.And && s.B.IsImm && s.B.Imm == 0xffffffff {
			ctx.MOVL(g.reg(s.A).As32(), d.As32()) // zero-extends
			return nil
		}
		ctx.MOVQ(g.reg(s.A), d)
		switch s.ALU {
		case ir.Add:
			ctx.ADDQ(g.operand(s.B), d)
		case ir.Sub:
			ctx.SUBQ(g.operand(s.B), d)
		case ir.Mul:
			x := g.operand(s.B)
			if _, ok := x.(operand.Constant); ok {
				ctx.MOVQ(x, scratch)
				x = scratch
			}
			ctx.IMULQ(x, d)
		case ir.And:
			ctx.ANDQ(g.operand(s.B), d)
		case ir.Or:
			ctx.ORQ(g.operand(s.B), d)
		case ir.Shl:
			ctx.SHLQ(operand.U8(uint8(s.B.Imm)), d)
		case ir.Shr:
			ctx.SHRQ(operand.U8(uint8(s.B.Imm)), d)
		default:
			return fmt.Errorf("unknown ALU op %v", s.ALU)
		}
	case ir.Load:
		if s.Size == 4 {
			ctx.MOVL(g.mem(s.Addr), g.reg(s.Dst).As32())
		} else {
			ctx.MOVQ(g.mem(s.Addr), g.reg(s.Dst))
		}
	case ir.Global:
		ctx.MOVQ(sym("·"+s.Global), g.reg(s.Dst))
	case ir.Store, ir.Commit:
		if s.Zero && s.UnlessWB != 0 {
			// Straight on while the collector is not marking.
			g.nwb++
			skip := fmt.Sprintf("marking%d", g.nwb)
			ctx.CMPL(g.reg(s.UnlessWB).As32(), operand.I32(0))
			ctx.JNE(operand.LabelRef(skip))
			ctx.MOVQ(operand.I32(0), g.mem(s.Addr))
			ctx.Label(skip)
			return nil
		}
		if s.Zero {
			ctx.MOVQ(operand.I32(0), g.mem(s.Addr))
			return nil
		}
		v := g.reg(s.A)
		switch {
		case s.AddTo && s.Size == 4:
			ctx.ADDL(v.As32(), g.mem(s.Addr))
		case s.AddTo:
			ctx.ADDQ(v, g.mem(s.Addr))
		case s.Size == 4:
			ctx.MOVL(v.As32(), g.mem(s.Addr))
		default:
			ctx.MOVQ(v, g.mem(s.Addr))
		}
	case ir.Branch:
		target := fmt.Sprintf("fail%d", s.Fail)
		if g.op.Hot != nil {
			target = "slow"
		}
		if s.SameVal != 0 {
			// The memory test first: while the collector is not marking
			// the word differs and both branches fall through.
			g.nwb++
			same := fmt.Sprintf("same%d", g.nwb)
			ctx.CMPQ(g.reg(s.SameVal), g.mem(s.Addr))
			ctx.JEQ(operand.LabelRef(same))
			ctx.CMPQ(g.reg(s.A), g.operand(s.B))
			jumps[s.Cond](ctx, operand.LabelRef(target))
			ctx.Label(same)
			return nil
		}
		ctx.CMPQ(g.reg(s.A), g.operand(s.B))
		jumps[s.Cond](ctx, operand.LabelRef(target))
	case ir.Copy:
		g.ncpy++
		loop, done := fmt.Sprintf("copy%d", g.ncpy), fmt.Sprintf("copied%d", g.ncpy)
		i, t := g.reg(s.Tmp[0]), g.reg(s.Tmp[1])
		dst, src, n := g.reg(s.CopyDst), g.reg(s.CopySrc), g.reg(s.CopyLen)
		ctx.XORQ(i, i)
		ctx.Label(loop)
		ctx.CMPQ(i, n)
		ctx.JCC(operand.LabelRef(done))
		ctx.MOVBLZX(operand.Mem{Base: src, Index: i, Scale: 1}, t.As32())
		ctx.MOVB(t.As8(), operand.Mem{Base: dst, Index: i, Scale: 1})
		ctx.INCQ(i)
		ctx.JMP(operand.LabelRef(loop))
		ctx.Label(done)
	default:
		return fmt.Errorf("unknown statement kind %d", s.Kind)
	}
	return nil
}

package golang

import (
	"fmt"
	"strings"

	"github.com/gorseq/rseq/gen/ir"
)

// Fallback returns zops_fallback.go: for every op, a portable function with
// the same effect on a slot the caller chooses (shard), run under that
// shard's lock (rseqop.FallbackLock). Every
// word access goes through sync/atomic, so readers that use atomics and the
// race detector see no data race.
func Fallback(ops []*ir.Op, t Target) ([]byte, error) {
	f := header(t, "", "math", "sync/atomic", "unsafe", RuntimePath)
	f.p("var _ = atomic.LoadUint64 // some op sets use no atomics")
	f.p("var _ = math.Float64bits  // and most no floats")
	cold := 0
	for _, op := range ops {
		if op.Hot == nil {
			cold++
		}
	}
	if cold == 0 {
		f.p("var (")
		f.p("_ = rseqop.FallbackLock // only hot ops: no fallbacks")
		f.p("_ unsafe.Pointer")
		f.p(")")
	}
	f.p("")
	f.p("// zopPtrSize is the size of a pointer on the platform that builds the")
	f.p("// fallback (8 or 4): the IR's 8-byte pointer slots are this wide here.")
	f.p("const zopPtrSize = 4 << (^uintptr(0) >> 63)")
	for _, op := range ops {
		if op.Hot != nil {
			continue // a hot op's fallback is its hand-written slow path
		}
		if err := fallback(f, op); err != nil {
			return nil, fmt.Errorf("fallback %s: %w", op.Name, err)
		}
	}
	return f.gofmt()
}

type fb struct {
	op *ir.Op
}

// word returns v as a uint64 expression.
func (g *fb) word(v ir.Value) string {
	if v == ir.Idx {
		return "uint64(shard)"
	}
	if g.op.TypeOf(v) == ir.Ptr {
		return fmt.Sprintf("uint64(uintptr(v%d))", v)
	}
	return fmt.Sprintf("v%d", v)
}

func (g *fb) operand(x ir.Operand) string {
	if x.IsImm {
		return fmt.Sprintf("%#x", uint64(x.Imm))
	}
	return g.word(x.V)
}

// addr returns a's address as an unsafe.Pointer expression. ptr says the
// access loads or stores a pointer: the IR describes the 64-bit layouts its
// assembly targets, where an array of pointers has 8-byte elements, so an
// indexed pointer access with Scale 8 counts its index and offset in pointer
// slots, which the fallback scales by the platform's pointer size (4 on
// 386, arm, ...); an offset's remainder below 8 bytes stays in bytes. Any
// other address is in bytes on every platform. On 64-bit platforms both
// readings give the same address.
func (g *fb) addr(a ir.Addr, ptr bool) string {
	s := fmt.Sprintf("v%d", a.Base)
	slots := ptr && a.Index != 0 && a.Scale == 8
	if a.Index != 0 {
		if slots {
			s = fmt.Sprintf("unsafe.Add(%s, %s*zopPtrSize)", s, g.word(a.Index))
		} else {
			s = fmt.Sprintf("unsafe.Add(%s, %s*%d)", s, g.word(a.Index), a.Scale)
		}
	}
	switch {
	case a.Off == 0:
	case slots && a.Off%8 == 0:
		s = fmt.Sprintf("unsafe.Add(%s, %d*zopPtrSize)", s, a.Off/8)
	case slots:
		s = fmt.Sprintf("unsafe.Add(%s, %d*zopPtrSize%+d)", s, a.Off/8, a.Off%8)
	default:
		s = fmt.Sprintf("unsafe.Add(%s, %d)", s, a.Off)
	}
	return s
}

var goOps = map[ir.ALUOp]string{ir.Add: "+", ir.Sub: "-", ir.Mul: "*", ir.And: "&", ir.Or: "|", ir.Shl: "<<", ir.Shr: ">>"}

var goConds = map[ir.Cond]string{ir.EQ: "==", ir.NE: "!=", ir.LTU: "<", ir.GEU: ">=", ir.LEU: "<=", ir.GTU: ">", ir.LT: "<", ir.GE: ">="}

func fallback(f *file, op *ir.Op) error {
	g := &fb{op: op}
	var ps []string
	for _, p := range op.Params {
		ps = append(ps, p.Name+" "+p.Type.String())
	}
	var rs, zeros []string
	for _, r := range op.Results {
		t := op.TypeOf(r.V)
		rs = append(rs, r.Name+" "+t.String())
		if t == ir.Ptr {
			zeros = append(zeros, "nil")
		} else {
			zeros = append(zeros, "0")
		}
	}
	rs = append(rs, "idx uintptr", "status int")
	zeros = append(zeros, "shard")
	ret := func(status string) string {
		return "return " + strings.Join(zeros, ", ") + ", " + status
	}
	f.p("")
	comment(f, fmt.Sprintf("%s%s is the portable %s%s: the same effect on slot shard, chosen\nby the caller, under that shard's fallback lock; idx returns shard. The op %s", ir.FallbackPrefix, op.Name, ir.OpPrefix, op.Name, op.Doc))
	f.p("func %s%s(shard uintptr, %s) (%s) {", ir.FallbackPrefix, op.Name, strings.Join(ps, ", "), strings.Join(rs, ", "))
	f.p("if shard >= limit { %s }", ret("zopStatusIndexRange"))
	f.p("lk := rseqop.FallbackLock(shard)")
	f.p("lk.Lock()")
	f.p("defer lk.Unlock()")
	used := map[ir.Value]bool{}
	for i := range op.Body {
		for _, v := range op.Body[i].Uses() {
			used[v] = true
		}
	}
	for _, r := range op.Results {
		used[r.V] = true
	}
	for i := range op.Body {
		s := &op.Body[i]
		switch s.Kind {
		case ir.Arg:
			p := op.Params[s.Param]
			switch p.Type {
			case ir.Ptr:
				f.p("v%d := %s", s.Dst, p.Name)
			case ir.Float:
				f.p("v%d := math.Float64bits(%s)", s.Dst, p.Name)
			default:
				f.p("v%d := uint64(%s)", s.Dst, p.Name)
			}
		case ir.ALU:
			if s.ALU == ir.FAdd {
				f.p("v%d := math.Float64bits(math.Float64frombits(v%d) + math.Float64frombits(v%d))", s.Dst, s.A, s.B.V)
			} else if op.TypeOf(s.Dst) == ir.Ptr {
				if s.B.IsImm {
					off := s.B.Imm
					if s.ALU == ir.Sub {
						off = -off
					}
					f.p("v%d := unsafe.Add(v%d, %d)", s.Dst, s.A, off)
				} else if s.ALU == ir.Sub {
					f.p("v%d := unsafe.Add(v%d, -%s)", s.Dst, s.A, g.operand(s.B))
				} else {
					f.p("v%d := unsafe.Add(v%d, %s)", s.Dst, s.A, g.operand(s.B))
				}
			} else {
				f.p("v%d := %s %s %s", s.Dst, g.word(s.A), goOps[s.ALU], g.operand(s.B))
			}
		case ir.Load:
			a := g.addr(s.Addr, s.Size == 8 && s.Type == ir.Ptr)
			switch {
			case s.Size == 4:
				f.p("v%d := uint64(atomic.LoadUint32((*uint32)(%s)))", s.Dst, a)
			case s.Type == ir.Ptr:
				f.p("v%d := atomic.LoadPointer((*unsafe.Pointer)(%s))", s.Dst, a)
			default:
				f.p("v%d := atomic.LoadUint64((*uint64)(%s))", s.Dst, a)
			}
		case ir.Store, ir.Commit:
			a := g.addr(s.Addr, s.Size == 8 && !s.AddTo && op.TypeOf(s.A) == ir.Ptr)
			switch {
			case s.AddTo && s.Size == 4:
				f.p("atomic.AddUint32((*uint32)(%s), uint32(%s))", a, g.word(s.A))
			case s.AddTo:
				f.p("atomic.AddUint64((*uint64)(%s), %s)", a, g.word(s.A))
			case s.Size == 4:
				f.p("atomic.StoreUint32((*uint32)(%s), uint32(%s))", a, g.word(s.A))
			case op.TypeOf(s.A) == ir.Ptr:
				f.p("atomic.StorePointer((*unsafe.Pointer)(%s), v%d)", a, s.A)
			default:
				f.p("atomic.StoreUint64((*uint64)(%s), %s)", a, g.word(s.A))
			}
		case ir.Branch:
			x, y := g.word(s.A), g.operand(s.B)
			if s.Cond == ir.LT || s.Cond == ir.GE {
				x, y = "int64("+x+")", "int64("+y+")"
				if s.B.IsImm {
					y = fmt.Sprintf("int64(%d)", s.B.Imm)
				}
			}
			f.p("if %s %s %s { %s }", x, goConds[s.Cond], y, ret(fmt.Sprint(s.Fail)))
		case ir.Copy:
			f.p("copy(unsafe.Slice((*byte)(v%d), %s), unsafe.Slice((*byte)(v%d), %s))", s.CopyDst, g.word(s.CopyLen), s.CopySrc, g.word(s.CopyLen))
		default:
			return fmt.Errorf("unknown statement kind %d", s.Kind)
		}
		if s.Kind == ir.Arg || s.Kind == ir.ALU || s.Kind == ir.Load {
			if !used[s.Dst] {
				f.p("_ = v%d", s.Dst)
			}
		}
	}
	var out []string
	for _, r := range op.Results {
		if r.V == ir.Idx {
			out = append(out, fmt.Sprintf("%s(shard)", op.TypeOf(r.V)))
		} else if op.TypeOf(r.V) == ir.Ptr {
			out = append(out, fmt.Sprintf("v%d", r.V))
		} else if op.TypeOf(r.V) == ir.Int {
			out = append(out, fmt.Sprintf("int64(v%d)", r.V))
		} else if op.TypeOf(r.V) == ir.Float {
			out = append(out, fmt.Sprintf("math.Float64frombits(v%d)", r.V))
		} else {
			out = append(out, fmt.Sprintf("uintptr(v%d)", r.V))
		}
	}
	out = append(out, "shard", "zopStatusOK")
	f.p("return %s", strings.Join(out, ", "))
	f.p("}")
	return nil
}

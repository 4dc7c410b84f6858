package ir

import (
	"errors"
	"fmt"
	"go/token"
	"go/types"
	"strings"
	"unicode"
)

// MaxRegs is the number of registers an op's values may occupy at once
// (Idx included). The amd64 back end has 13 usable general registers
// (AX..R14 without SP, BP; R15 is left alone because dynamic linking
// clobbers it); it keeps the area pointer and one scratch register for
// itself. arm64 has more and uses the same budget.
const MaxRegs = 11

// Limits on an op's shape, so that every accepted op generates.
const (
	MaxParams  = 10
	MaxResults = 4
	MaxFails   = 8
	MaxStmts   = 64
)

// reserved are names the generated Go code uses itself.
var reserved = map[string]bool{"idx": true, "status": true, "shard": true, "unsafe": true, "atomic": true, "lk": true}

// Error is a validation failure, naming the op and the statement.
type Error struct {
	Op   string
	Stmt int // index in Body, or -1
	Msg  string
}

func (e *Error) Error() string {
	if e.Stmt >= 0 {
		return fmt.Sprintf("op %q: statement %d: %s", e.Op, e.Stmt, e.Msg)
	}
	return fmt.Sprintf("op %q: %s", e.Op, e.Msg)
}

func checkIdent(kind, name string, exported bool) error {
	if name == "" || len(name) > 32 {
		return fmt.Errorf("%s name %q: must be 1 to 32 characters", kind, name)
	}
	for i, r := range name {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) || (i == 0 && !unicode.IsLetter(r)) {
			return fmt.Errorf("%s name %q: must be ASCII letters and digits, starting with a letter", kind, name)
		}
	}
	if up := unicode.IsUpper(rune(name[0])); up != exported {
		if exported {
			return fmt.Errorf("%s name %q: must start with an upper-case letter", kind, name)
		}
		return fmt.Errorf("%s name %q: must start with a lower-case letter", kind, name)
	}
	if !exported {
		if token.IsKeyword(name) || types.Universe.Lookup(name) != nil || reserved[name] {
			return fmt.Errorf("%s name %q is reserved", kind, name)
		}
		if len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
			return fmt.Errorf("%s name %q is reserved (v<N> names the generated temporaries)", kind, name)
		}
	}
	return nil
}

// Validate checks that op is well formed and fits the register budget. It
// fills the value types. An op that passes generates a correct critical
// section on every back end; one that does not is rejected with an *Error
// that says why.
func (op *Op) Validate() error {
	fail := func(stmt int, format string, args ...any) error {
		return &Error{Op: op.Name, Stmt: stmt, Msg: fmt.Sprintf(format, args...)}
	}
	if err := checkIdent("op", op.Name, true); err != nil {
		return fail(-1, "%v", err)
	}
	if strings.TrimSpace(op.Doc) == "" {
		return fail(-1, "missing doc: every op states its contract")
	}
	if len(op.Params) > MaxParams {
		return fail(-1, "%d parameters, at most %d", len(op.Params), MaxParams)
	}
	names := map[string]bool{}
	for _, p := range op.Params {
		if err := checkIdent("parameter", p.Name, false); err != nil {
			return fail(-1, "%v", err)
		}
		if names[p.Name] {
			return fail(-1, "duplicate parameter %q", p.Name)
		}
		names[p.Name] = true
		if p.Type < Word || p.Type > Int {
			return fail(-1, "parameter %q: invalid type %d", p.Name, p.Type)
		}
	}
	if op.Hot != nil {
		for _, n := range []struct{ kind, name string }{{"hot function", op.Hot.Func}, {"slow path", op.Hot.Slow}, {"limit variable", op.Hot.Limit}} {
			if err := checkIdent(n.kind, n.name, false); err != nil {
				return fail(-1, "%v", err)
			}
		}
		if op.Hot.Func == op.Hot.Slow {
			return fail(-1, "hot function and slow path are both %q", op.Hot.Func)
		}
		borrowed := map[string]bool{}
		for _, name := range op.Hot.SlowBorrows {
			i := op.param(name)
			switch {
			case i < 0:
				return fail(-1, "SlowBorrows names %q, which is not a parameter", name)
			case op.Params[i].Type != Ptr:
				return fail(-1, "SlowBorrows names %q, a %s: only Ptr parameters can escape", name, op.Params[i].Type)
			case borrowed[name]:
				return fail(-1, "SlowBorrows names %q twice", name)
			}
			borrowed[name] = true
		}
	} else if l := op.LimitParam(); l < 0 {
		return fail(-1, `no "limit" parameter: every op bounds its index`)
	} else if op.Params[l].Type != Word {
		return fail(-1, `parameter "limit" must be a Word (uintptr)`)
	}
	if len(op.Fails) > MaxFails {
		return fail(-1, "%d failure codes, at most %d", len(op.Fails), MaxFails)
	}
	for k, d := range op.Fails {
		if strings.TrimSpace(d) == "" {
			return fail(-1, "failure %d has no description", k+1)
		}
	}
	if len(op.Body) == 0 {
		return fail(-1, "empty body: an op needs a commit")
	}
	if len(op.Body) > MaxStmts {
		return fail(-1, "%d statements, at most %d", len(op.Body), MaxStmts)
	}

	// Values: SSA, typed as they are defined.
	maxv := Idx
	for i := range op.Body {
		for _, v := range op.Body[i].Defs() {
			if v > maxv {
				maxv = v
			}
		}
	}
	if int(maxv) > 4*MaxStmts {
		return fail(-1, "value %d out of range", maxv)
	}
	types := make([]Type, maxv+1)
	types[Idx] = Word
	defined := make([]bool, maxv+1)
	defined[Idx] = true
	scratch := make([]bool, maxv+1) // Copy's loop registers: defined, but never readable
	usedFail := make([]bool, len(op.Fails)+1)
	commits := 0
	guarded := false // a WBGuard branch has run
	var same *Stmt   // the last WBGuard allows only this store (SameVal), if not nil
	loadSize := make([]uint8, maxv+1)
	isWord := func(t Type) bool { return t == Word || t == Int }
	for i := range op.Body {
		s := &op.Body[i]
		for _, v := range s.Uses() {
			if v <= 0 || v > maxv || !defined[v] {
				return fail(i, "%s: reads %s before it is defined", s.Format(op), vname(v))
			}
			if scratch[v] {
				return fail(i, "%s: reads %s, a copy loop's scratch value", s.Format(op), vname(v))
			}
		}
		checkAddr := func(a Addr) error {
			if types[a.Base] != Ptr {
				return fail(i, "%s: address base %s is a %s, not a Ptr", s.Format(op), vname(a.Base), types[a.Base])
			}
			if a.Index != 0 && !isWord(types[a.Index]) {
				return fail(i, "%s: address index %s is not a Word", s.Format(op), vname(a.Index))
			}
			switch a.Scale {
			case 1, 2, 4, 8:
			default:
				return fail(i, "%s: scale %d (want 1, 2, 4 or 8)", s.Format(op), a.Scale)
			}
			if a.Off < -4096 || a.Off > 4095 {
				return fail(i, "%s: offset %d out of [-4096, 4095]", s.Format(op), a.Off)
			}
			return nil
		}
		checkSize := func() error {
			if s.Size != 4 && s.Size != 8 {
				return fail(i, "%s: size %d bytes (want 4 or 8)", s.Format(op), s.Size)
			}
			return nil
		}
		var t Type
		switch s.Kind {
		case Arg:
			if s.Param < 0 || s.Param >= len(op.Params) {
				return fail(i, "arg of parameter %d: there are %d", s.Param, len(op.Params))
			}
			t = op.Params[s.Param].Type
		case Global:
			if err := checkIdent("global", s.Global, false); err != nil {
				return fail(i, "%v", err)
			}
			if s.Type != Word && s.Type != Ptr {
				return fail(i, "%s: reads a %s (want Word or Ptr)", s.Format(op), s.Type)
			}
			t = s.Type
		case ALU:
			ta := types[s.A]
			tb := Word
			if !s.B.IsImm {
				tb = types[s.B.V]
			}
			switch s.ALU {
			case Add, Sub:
				if tb == Ptr {
					return fail(i, "%s: cannot add or subtract a Ptr", s.Format(op))
				}
				t = Word
				if ta == Ptr {
					t = Ptr
					if s.B.IsImm && !(s.B.Imm > -1<<31 && s.B.Imm < 1<<31) {
						return fail(i, "%s: pointer offset out of the 32-bit range", s.Format(op))
					}
				}
			case Mul, And, Or:
				if ta == Ptr || tb == Ptr {
					return fail(i, "%s: %s of a Ptr", s.Format(op), s.ALU)
				}
				t = Word
			case Shl, Shr:
				if ta == Ptr {
					return fail(i, "%s: shift of a Ptr", s.Format(op))
				}
				if !s.B.IsImm || s.B.Imm < 0 || s.B.Imm > 63 {
					return fail(i, "%s: shift count must be an immediate 0..63", s.Format(op))
				}
				t = Word
			default:
				return fail(i, "unknown ALU operation %d", s.ALU)
			}
		case Load:
			if err := checkSize(); err != nil {
				return err
			}
			if err := checkAddr(s.Addr); err != nil {
				return err
			}
			if s.Type != Word && s.Type != Ptr {
				return fail(i, "%s: loads a %s (want Word or Ptr)", s.Format(op), s.Type)
			}
			if s.Size == 4 && s.Type != Word {
				return fail(i, "%s: a 4-byte load gives a Word", s.Format(op))
			}
			t = s.Type
			loadSize[s.Dst] = s.Size
		case Store, Commit:
			if err := checkSize(); err != nil {
				return err
			}
			if err := checkAddr(s.Addr); err != nil {
				return err
			}
			if s.Size == 4 && types[s.A] == Ptr {
				return fail(i, "%s: a 4-byte store of a Ptr", s.Format(op))
			}
			if s.HeapPtr {
				if s.Kind != Store {
					return fail(i, "%s: only a speculative store may store a heap pointer", s.Format(op))
				}
				if (!s.Zero && types[s.A] != Ptr) || s.Size != 8 {
					return fail(i, "%s: a heap pointer store stores an 8-byte Ptr", s.Format(op))
				}
				switch {
				case s.UnlessWB != 0:
					if !s.Zero || loadSize[s.UnlessWB] != 4 || types[s.UnlessWB] != Word {
						return fail(i, "%s: a clear unless the write barrier is on tests a 4-byte load of the flag", s.Format(op))
					}
				case !guarded:
					return fail(i, "%s: heap pointer store without a write barrier guard before it (assembly has no write barrier)", s.Format(op))
				case same != nil && (s.Zero || s.A != same.SameVal || s.Addr != same.Addr):
					return fail(i, "%s: after a guard that lets the collector mark, only the store of %s at %s is allowed", s.Format(op), vname(same.SameVal), same.Addr.format())
				}
			} else if s.UnlessWB != 0 {
				return fail(i, "%s: only a heap pointer clear can be skipped while the write barrier is on", s.Format(op))
			}
			if s.Zero && !s.HeapPtr {
				return fail(i, "%s: only a heap pointer store stores nil", s.Format(op))
			}
			if s.Kind == Commit {
				commits++
				if s.AddTo && types[s.A] == Ptr {
					return fail(i, "%s: commit adds a Ptr", s.Format(op))
				}
				if i != len(op.Body)-1 {
					return fail(i, "commit is not the last statement: nothing may follow the commit store")
				}
			} else if s.AddTo {
				return fail(i, "%s: only a commit can add to memory", s.Format(op))
			}
		case Branch:
			if s.Cond < EQ || s.Cond > GE {
				return fail(i, "unknown condition %d", s.Cond)
			}
			if s.Fail < 1 || s.Fail > len(op.Fails) {
				return fail(i, "%s: failure %d is not declared (the op has %d)", s.Format(op), s.Fail, len(op.Fails))
			}
			usedFail[s.Fail] = true
			if s.WBGuard {
				if s.Cond != NE || !s.B.IsImm || s.B.Imm != 0 || loadSize[s.A] != 4 {
					return fail(i, "%s: a write barrier guard branches on a 4-byte load != 0", s.Format(op))
				}
				guarded = true
				same = nil
				if s.SameVal != 0 {
					if types[s.SameVal] != Ptr {
						return fail(i, "%s: the value a guard compares with memory is a Ptr", s.Format(op))
					}
					if err := checkAddr(s.Addr); err != nil {
						return err
					}
					same = s
				}
			} else if s.SameVal != 0 {
				return fail(i, "%s: only a write barrier guard compares with memory", s.Format(op))
			}
			if !s.B.IsImm && (types[s.A] == Ptr) != (types[s.B.V] == Ptr) {
				return fail(i, "%s: compares a Ptr with a non-Ptr", s.Format(op))
			}
		case Copy:
			if types[s.CopyDst] != Ptr || types[s.CopySrc] != Ptr {
				return fail(i, "%s: copy needs Ptr source and destination", s.Format(op))
			}
			if !isWord(types[s.CopyLen]) {
				return fail(i, "%s: copy length is not a Word", s.Format(op))
			}
			if s.Tmp[0] == s.Tmp[1] {
				return fail(i, "copy scratch values must differ")
			}
			t = Word
		default:
			return fail(i, "unknown statement kind %d", s.Kind)
		}
		for _, v := range s.Defs() {
			if v <= Idx || v > maxv {
				return fail(i, "defines %s: values start at 2 (1 is idx)", vname(v))
			}
			if defined[v] {
				return fail(i, "%s: %s is defined twice (values are SSA)", s.Format(op), vname(v))
			}
			defined[v] = true
			types[v] = t
			scratch[v] = s.Kind == Copy
		}
	}
	if commits != 1 {
		return fail(-1, "%d commit statements, want exactly 1 (the last)", commits)
	}
	for k := 1; k <= len(op.Fails); k++ {
		if !usedFail[k] {
			return fail(-1, "failure %d (%s) is never taken", k, op.Fails[k-1])
		}
	}
	if len(op.Results) > MaxResults {
		return fail(-1, "%d results, at most %d", len(op.Results), MaxResults)
	}
	for _, r := range op.Results {
		if err := checkIdent("result", r.Name, false); err != nil {
			return fail(-1, "%v", err)
		}
		if names[r.Name] {
			return fail(-1, "result %q: name already used", r.Name)
		}
		names[r.Name] = true
		if r.V <= 0 || r.V > maxv || !defined[r.V] || scratch[r.V] {
			return fail(-1, "result %q: %s is not defined (or is a copy loop's scratch value)", r.Name, vname(r.V))
		}
	}
	op.types = types
	op.nvals = int(maxv) + 1
	if _, n, err := op.allocate(); err != nil {
		return fail(-1, "%v", err)
	} else if n > MaxRegs {
		return fail(-1, "needs %d registers at once, the budget is %d: read parameters where they are used, or split the op", n, MaxRegs)
	}
	return nil
}

// Regs maps every value of a validated op to a register index in
// [0, MaxRegs). Idx is always register 0. Values that are never read still
// get a register (the instruction that defines them writes it).
func (op *Op) Regs() []int {
	r, _, err := op.allocate()
	if err != nil {
		panic(err)
	}
	return r
}

var errUnvalidated = errors.New("op not validated")

// allocate assigns register indices by liveness over the straight-line
// body: a value holds its register from its definition to its last read
// (results and Idx to the end). A statement's definitions never share a
// register with the values it reads, so back ends may write a destination
// before reading all sources.
func (op *Op) allocate() ([]int, int, error) {
	if len(op.types) < op.nvals || op.nvals < 2 {
		return nil, 0, errUnvalidated
	}
	last := make([]int, op.nvals)
	for i := range last {
		last[i] = -1
	}
	for i := range op.Body {
		for _, v := range op.Body[i].Uses() {
			last[v] = i
		}
		for _, v := range op.Body[i].Defs() {
			if last[v] < i {
				last[v] = i
			}
		}
	}
	end := len(op.Body)
	last[Idx] = end
	for _, r := range op.Results {
		last[r.V] = end
	}
	reg := make([]int, op.nvals)
	for i := range reg {
		reg[i] = -1
	}
	var busy []bool
	take := func() int {
		for k, b := range busy {
			if !b {
				busy[k] = true
				return k
			}
		}
		busy = append(busy, true)
		return len(busy) - 1
	}
	reg[Idx] = take()
	for i := range op.Body {
		for _, v := range op.Body[i].Defs() {
			reg[v] = take()
		}
		for v := range reg {
			if reg[v] >= 0 && last[v] == i {
				busy[reg[v]] = false
			}
		}
	}
	return reg, len(busy), nil
}

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
	v := &validator{op: op}
	if err := v.signature(); err != nil {
		return err
	}
	if err := v.body(); err != nil {
		return err
	}
	if err := v.results(); err != nil {
		return err
	}
	op.types = v.types
	op.nvals = int(v.maxv) + 1
	if _, n, err := op.allocate(); err != nil {
		return v.fail(-1, "%v", err)
	} else if n > MaxRegs {
		return v.fail(-1, "needs %d registers at once, the budget is %d: read parameters where they are used, or split the op", n, MaxRegs)
	}
	return nil
}

// validator is the state of one Validate: what the statements so far
// defined, and the write barrier guards in force.
type validator struct {
	op       *Op
	names    map[string]bool // parameter and result names
	maxv     Value
	types    []Type
	defined  []bool
	scratch  []bool  // Copy's loop registers: defined, but never readable
	loadSize []uint8 // of each value a Load defined
	usedFail []bool
	commits  int
	guarded  bool  // a WBGuard branch has run
	same     *Stmt // the last WBGuard allows only this store (SameVal), if not nil
}

func (v *validator) fail(stmt int, format string, args ...any) error {
	return &Error{Op: v.op.Name, Stmt: stmt, Msg: fmt.Sprintf(format, args...)}
}

// signature checks the op's name, doc, parameters, hot calling convention,
// failure codes and body size.
func (v *validator) signature() error {
	op := v.op
	if err := checkIdent("op", op.Name, true); err != nil {
		return v.fail(-1, "%v", err)
	}
	if strings.TrimSpace(op.Doc) == "" {
		return v.fail(-1, "missing doc: every op states its contract")
	}
	if len(op.Params) > MaxParams {
		return v.fail(-1, "%d parameters, at most %d", len(op.Params), MaxParams)
	}
	v.names = map[string]bool{}
	for _, p := range op.Params {
		if err := checkIdent("parameter", p.Name, false); err != nil {
			return v.fail(-1, "%v", err)
		}
		if v.names[p.Name] {
			return v.fail(-1, "duplicate parameter %q", p.Name)
		}
		v.names[p.Name] = true
		if p.Type < Word || p.Type > Float {
			return v.fail(-1, "parameter %q: invalid type %d", p.Name, p.Type)
		}
	}
	if op.Hot != nil {
		if err := v.hot(); err != nil {
			return err
		}
	} else if l := op.LimitParam(); l < 0 {
		return v.fail(-1, `no "limit" parameter: every op bounds its index`)
	} else if op.Params[l].Type != Word {
		return v.fail(-1, `parameter "limit" must be a Word (uintptr)`)
	}
	if len(op.Fails) > MaxFails {
		return v.fail(-1, "%d failure codes, at most %d", len(op.Fails), MaxFails)
	}
	for k, d := range op.Fails {
		if strings.TrimSpace(d) == "" {
			return v.fail(-1, "failure %d has no description", k+1)
		}
	}
	if len(op.Body) == 0 {
		return v.fail(-1, "empty body: an op needs a commit")
	}
	if len(op.Body) > MaxStmts {
		return v.fail(-1, "%d statements, at most %d", len(op.Body), MaxStmts)
	}
	return nil
}

// hot checks a hot op's names and SlowBorrows.
func (v *validator) hot() error {
	h := v.op.Hot
	for _, n := range []struct{ kind, name string }{{"hot function", h.Func}, {"slow path", h.Slow}, {"limit variable", h.Limit}} {
		if err := checkIdent(n.kind, n.name, false); err != nil {
			return v.fail(-1, "%v", err)
		}
	}
	if h.Func == h.Slow {
		return v.fail(-1, "hot function and slow path are both %q", h.Func)
	}
	borrowed := map[string]bool{}
	for _, name := range h.SlowBorrows {
		i := v.op.param(name)
		switch {
		case i < 0:
			return v.fail(-1, "SlowBorrows names %q, which is not a parameter", name)
		case v.op.Params[i].Type != Ptr:
			return v.fail(-1, "SlowBorrows names %q, a %s: only Ptr parameters can escape", name, v.op.Params[i].Type)
		case borrowed[name]:
			return v.fail(-1, "SlowBorrows names %q twice", name)
		}
		borrowed[name] = true
	}
	return nil
}

// body checks every statement in order and types the values (SSA: each is
// defined once, before it is read).
func (v *validator) body() error {
	op := v.op
	v.maxv = Idx
	for i := range op.Body {
		for _, d := range op.Body[i].Defs() {
			v.maxv = max(v.maxv, d)
		}
	}
	if int(v.maxv) > 4*MaxStmts {
		return v.fail(-1, "value %d out of range", v.maxv)
	}
	n := v.maxv + 1
	v.types, v.defined, v.scratch, v.loadSize = make([]Type, n), make([]bool, n), make([]bool, n), make([]uint8, n)
	v.types[Idx], v.defined[Idx] = Word, true
	v.usedFail = make([]bool, len(op.Fails)+1)
	for i := range op.Body {
		s := &op.Body[i]
		for _, u := range s.Uses() {
			if u <= 0 || u > v.maxv || !v.defined[u] {
				return v.fail(i, "%s: reads %s before it is defined", s.Format(op), vname(u))
			}
			if v.scratch[u] {
				return v.fail(i, "%s: reads %s, a copy loop's scratch value", s.Format(op), vname(u))
			}
		}
		check, ok := stmtChecks[s.Kind]
		if !ok {
			return v.fail(i, "unknown statement kind %d", s.Kind)
		}
		t, err := check(v, i, s)
		if err != nil {
			return err
		}
		for _, d := range s.Defs() {
			if d <= Idx || d > v.maxv {
				return v.fail(i, "defines %s: values start at 2 (1 is idx)", vname(d))
			}
			if v.defined[d] {
				return v.fail(i, "%s: %s is defined twice (values are SSA)", s.Format(op), vname(d))
			}
			v.defined[d], v.types[d], v.scratch[d] = true, t, s.Kind == Copy
		}
	}
	if v.commits != 1 {
		return v.fail(-1, "%d commit statements, want exactly 1 (the last)", v.commits)
	}
	for k := 1; k <= len(op.Fails); k++ {
		if !v.usedFail[k] {
			return v.fail(-1, "failure %d (%s) is never taken", k, op.Fails[k-1])
		}
	}
	return nil
}

// stmtChecks checks one statement of its kind and returns the type of the
// values it defines.
var stmtChecks = map[Kind]func(v *validator, i int, s *Stmt) (Type, error){
	Arg:    (*validator).arg,
	Global: (*validator).global,
	ALU:    (*validator).alu,
	Load:   (*validator).load,
	Store:  (*validator).store,
	Commit: (*validator).store,
	Branch: (*validator).branch,
	Copy:   (*validator).copyBytes,
}

func isWord(t Type) bool { return t == Word || t == Int }

func (v *validator) addr(i int, s *Stmt, a Addr) error {
	if v.types[a.Base] != Ptr {
		return v.fail(i, "%s: address base %s is a %s, not a Ptr", s.Format(v.op), vname(a.Base), v.types[a.Base])
	}
	if a.Index != 0 && !isWord(v.types[a.Index]) {
		return v.fail(i, "%s: address index %s is not a Word", s.Format(v.op), vname(a.Index))
	}
	switch a.Scale {
	case 1, 2, 4, 8:
	default:
		return v.fail(i, "%s: scale %d (want 1, 2, 4 or 8)", s.Format(v.op), a.Scale)
	}
	if a.Off < -4096 || a.Off > 4095 {
		return v.fail(i, "%s: offset %d out of [-4096, 4095]", s.Format(v.op), a.Off)
	}
	return nil
}

func (v *validator) size(i int, s *Stmt) error {
	if s.Size != 4 && s.Size != 8 {
		return v.fail(i, "%s: size %d bytes (want 4 or 8)", s.Format(v.op), s.Size)
	}
	return nil
}

func (v *validator) arg(i int, s *Stmt) (Type, error) {
	if s.Param < 0 || s.Param >= len(v.op.Params) {
		return 0, v.fail(i, "arg of parameter %d: there are %d", s.Param, len(v.op.Params))
	}
	return v.op.Params[s.Param].Type, nil
}

func (v *validator) global(i int, s *Stmt) (Type, error) {
	if err := checkIdent("global", s.Global, false); err != nil {
		return 0, v.fail(i, "%v", err)
	}
	if s.Type != Word && s.Type != Ptr {
		return 0, v.fail(i, "%s: reads a %s (want Word or Ptr)", s.Format(v.op), s.Type)
	}
	return s.Type, nil
}

func (v *validator) alu(i int, s *Stmt) (Type, error) {
	op := v.op
	ta := v.types[s.A]
	tb := Word
	if !s.B.IsImm {
		tb = v.types[s.B.V]
	}
	if s.ALU == FAdd {
		if ta != Float || s.B.IsImm || tb != Float {
			return 0, v.fail(i, "%s: fadd adds two Float values", s.Format(op))
		}
		return Float, nil
	}
	if ta == Float || tb == Float {
		return 0, v.fail(i, "%s: %s of a Float (only fadd takes Floats)", s.Format(op), s.ALU)
	}
	switch s.ALU {
	case Add, Sub:
		if tb == Ptr {
			return 0, v.fail(i, "%s: cannot add or subtract a Ptr", s.Format(op))
		}
		if ta != Ptr {
			return Word, nil
		}
		if s.B.IsImm && !(s.B.Imm > -1<<31 && s.B.Imm < 1<<31) {
			return 0, v.fail(i, "%s: pointer offset out of the 32-bit range", s.Format(op))
		}
		return Ptr, nil
	case Mul, And, Or:
		if ta == Ptr || tb == Ptr {
			return 0, v.fail(i, "%s: %s of a Ptr", s.Format(op), s.ALU)
		}
		return Word, nil
	case Shl, Shr:
		if ta == Ptr {
			return 0, v.fail(i, "%s: shift of a Ptr", s.Format(op))
		}
		if !s.B.IsImm || s.B.Imm < 0 || s.B.Imm > 63 {
			return 0, v.fail(i, "%s: shift count must be an immediate 0..63", s.Format(op))
		}
		return Word, nil
	}
	return 0, v.fail(i, "unknown ALU operation %d", s.ALU)
}

func (v *validator) load(i int, s *Stmt) (Type, error) {
	if err := v.size(i, s); err != nil {
		return 0, err
	}
	if err := v.addr(i, s, s.Addr); err != nil {
		return 0, err
	}
	if s.Type != Word && s.Type != Ptr && s.Type != Float {
		return 0, v.fail(i, "%s: loads a %s (want Word, Ptr or Float)", s.Format(v.op), s.Type)
	}
	if s.Size == 4 && s.Type != Word {
		return 0, v.fail(i, "%s: a 4-byte load gives a Word", s.Format(v.op))
	}
	v.loadSize[s.Dst] = s.Size
	return s.Type, nil
}

// store checks Store and Commit: sizes, heap pointer stores only after a
// write barrier guard, and the commit last.
func (v *validator) store(i int, s *Stmt) (Type, error) {
	op := v.op
	if err := v.size(i, s); err != nil {
		return 0, err
	}
	if err := v.addr(i, s, s.Addr); err != nil {
		return 0, err
	}
	if s.Size == 4 && (v.types[s.A] == Ptr || v.types[s.A] == Float) {
		return 0, v.fail(i, "%s: a 4-byte store of a %s", s.Format(op), v.types[s.A])
	}
	if s.HeapPtr {
		if err := v.heapStore(i, s); err != nil {
			return 0, err
		}
	} else if s.UnlessWB != 0 {
		return 0, v.fail(i, "%s: only a heap pointer clear can be skipped while the write barrier is on", s.Format(op))
	}
	if s.Zero && !s.HeapPtr {
		return 0, v.fail(i, "%s: only a heap pointer store stores nil", s.Format(op))
	}
	if s.Kind != Commit {
		if s.AddTo {
			return 0, v.fail(i, "%s: only a commit can add to memory", s.Format(op))
		}
		return 0, nil
	}
	v.commits++
	if s.AddTo && (v.types[s.A] == Ptr || v.types[s.A] == Float) {
		return 0, v.fail(i, "%s: commit adds a %s (an integer add)", s.Format(op), v.types[s.A])
	}
	if i != len(op.Body)-1 {
		return 0, v.fail(i, "commit is not the last statement: nothing may follow the commit store")
	}
	return 0, nil
}

// heapStore checks a store of a Go heap pointer (or nil): assembly has no
// write barrier, so it must be guarded.
func (v *validator) heapStore(i int, s *Stmt) error {
	op := v.op
	if s.Kind != Store {
		return v.fail(i, "%s: only a speculative store may store a heap pointer", s.Format(op))
	}
	if (!s.Zero && v.types[s.A] != Ptr) || s.Size != 8 {
		return v.fail(i, "%s: a heap pointer store stores an 8-byte Ptr", s.Format(op))
	}
	switch {
	case s.UnlessWB != 0:
		if !s.Zero || v.loadSize[s.UnlessWB] != 4 || v.types[s.UnlessWB] != Word {
			return v.fail(i, "%s: a clear unless the write barrier is on tests a 4-byte load of the flag", s.Format(op))
		}
	case !v.guarded:
		return v.fail(i, "%s: heap pointer store without a write barrier guard before it (assembly has no write barrier)", s.Format(op))
	case v.same != nil && (s.Zero || s.A != v.same.SameVal || s.Addr != v.same.Addr):
		return v.fail(i, "%s: after a guard that lets the collector mark, only the store of %s at %s is allowed", s.Format(op), vname(v.same.SameVal), v.same.Addr.format())
	}
	return nil
}

func (v *validator) branch(i int, s *Stmt) (Type, error) {
	op := v.op
	if s.Cond < EQ || s.Cond > GE {
		return 0, v.fail(i, "unknown condition %d", s.Cond)
	}
	if s.Fail < 1 || s.Fail > len(op.Fails) {
		return 0, v.fail(i, "%s: failure %d is not declared (the op has %d)", s.Format(op), s.Fail, len(op.Fails))
	}
	v.usedFail[s.Fail] = true
	if s.WBGuard {
		if s.Cond != NE || !s.B.IsImm || s.B.Imm != 0 || v.loadSize[s.A] != 4 {
			return 0, v.fail(i, "%s: a write barrier guard branches on a 4-byte load != 0", s.Format(op))
		}
		v.guarded, v.same = true, nil
		if s.SameVal != 0 {
			if v.types[s.SameVal] != Ptr {
				return 0, v.fail(i, "%s: the value a guard compares with memory is a Ptr", s.Format(op))
			}
			if err := v.addr(i, s, s.Addr); err != nil {
				return 0, err
			}
			v.same = s
		}
	} else if s.SameVal != 0 {
		return 0, v.fail(i, "%s: only a write barrier guard compares with memory", s.Format(op))
	}
	if !s.B.IsImm && (v.types[s.A] == Ptr) != (v.types[s.B.V] == Ptr) {
		return 0, v.fail(i, "%s: compares a Ptr with a non-Ptr", s.Format(op))
	}
	if v.types[s.A] == Float || !s.B.IsImm && v.types[s.B.V] == Float {
		return 0, v.fail(i, "%s: compares a Float (branches compare integers and pointers)", s.Format(op))
	}
	return 0, nil
}

func (v *validator) copyBytes(i int, s *Stmt) (Type, error) {
	if v.types[s.CopyDst] != Ptr || v.types[s.CopySrc] != Ptr {
		return 0, v.fail(i, "%s: copy needs Ptr source and destination", s.Format(v.op))
	}
	if !isWord(v.types[s.CopyLen]) {
		return 0, v.fail(i, "%s: copy length is not a Word", s.Format(v.op))
	}
	if s.Tmp[0] == s.Tmp[1] {
		return 0, v.fail(i, "copy scratch values must differ")
	}
	return Word, nil
}

// results checks the results: names, and values the body defined.
func (v *validator) results() error {
	op := v.op
	if len(op.Results) > MaxResults {
		return v.fail(-1, "%d results, at most %d", len(op.Results), MaxResults)
	}
	for _, r := range op.Results {
		if err := checkIdent("result", r.Name, false); err != nil {
			return v.fail(-1, "%v", err)
		}
		if v.names[r.Name] {
			return v.fail(-1, "result %q: name already used", r.Name)
		}
		v.names[r.Name] = true
		if r.V <= 0 || r.V > v.maxv || !v.defined[r.V] || v.scratch[r.V] {
			return v.fail(-1, "result %q: %s is not defined (or is a copy loop's scratch value)", r.Name, vname(r.V))
		}
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

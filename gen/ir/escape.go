package ir

import "fmt"

// Escape is a pointer parameter whose argument may outlive the call of
// the op: the Go compiler must not allocate what the caller passes there
// on the caller's stack.
type Escape struct {
	Param string // the parameter's name
	Why   string // the first reason found, for the generated comment and errors
}

// Escapes returns the Ptr parameters of a validated op whose arguments, or
// memory reachable from them, may outlive the call, in parameter order:
//
//   - the argument, or an address computed from it, is stored into memory
//     (Store, StoreHeapPointer, Commit) or returned as a result;
//   - a pointer loaded through it is stored or returned (what it points
//     to outlives the call);
//   - Copy copies bytes from memory it points to (the bytes may hold
//     pointers);
//   - a hot op hands every parameter to its Go slow path, which may keep
//     it, unless Hot.SlowBorrows lists it.
//
// The generated Go declaration of a function is //go:noescape only when
// Escapes is empty (DESIGN.md, "Escape"): the annotation is per function,
// and without it the compiler lets every pointer argument escape. A
// noescape claim on an argument the op keeps would let the compiler put
// the caller's object on its stack, and the op would keep a pointer into a
// stack that is reused.
func (op *Op) Escapes() []Escape {
	if len(op.types) < op.nvals {
		panic(errUnvalidated)
	}
	// direct[v]: the Ptr parameters v is, or is an address computed from;
	// content[v]: the Ptr parameters v was loaded through (bit i = param i).
	direct := make([]uint32, op.nvals)
	content := make([]uint32, op.nvals)
	why := make([]string, len(op.Params))
	leak := func(mask uint32, reason func(name string) string) {
		for i := range op.Params {
			if mask&(1<<i) != 0 && why[i] == "" {
				why[i] = reason(op.Params[i].Name)
			}
		}
	}
	for i := range op.Body {
		s := &op.Body[i]
		switch s.Kind {
		case Arg:
			if op.Params[s.Param].Type == Ptr {
				direct[s.Dst] = 1 << s.Param
			}
		case ALU:
			direct[s.Dst], content[s.Dst] = direct[s.A], content[s.A]
			if !s.B.IsImm {
				direct[s.Dst] |= direct[s.B.V]
				content[s.Dst] |= content[s.B.V]
			}
		case Load:
			if s.Type == Ptr {
				content[s.Dst] = direct[s.Addr.Base] | content[s.Addr.Base]
			}
		case Store, Commit:
			if s.Zero {
				break
			}
			stmt := s.Format(op)
			leak(direct[s.A], func(p string) string {
				return fmt.Sprintf("%s (or an address computed from it) is stored into memory by statement %d (%s)", p, i, stmt)
			})
			leak(content[s.A], func(p string) string {
				return fmt.Sprintf("a pointer loaded through %s is stored into memory by statement %d (%s)", p, i, stmt)
			})
		case Copy:
			stmt := s.Format(op)
			leak(direct[s.CopySrc]|content[s.CopySrc], func(p string) string {
				return fmt.Sprintf("memory reachable from %s is copied by statement %d (%s); its bytes may hold pointers", p, i, stmt)
			})
		}
	}
	for _, r := range op.Results {
		leak(direct[r.V]|content[r.V], func(p string) string {
			return fmt.Sprintf("%s, or a pointer loaded through it, is returned as result %s", p, r.Name)
		})
	}
	if h := op.Hot; h != nil {
		var all uint32
		for i, p := range op.Params {
			if p.Type == Ptr && !h.borrows(p.Name) {
				all |= 1 << i
			}
		}
		leak(all, func(p string) string {
			return fmt.Sprintf("%s is passed to the slow path %s, which may keep it (Hot.SlowBorrows does not list it)", p, h.Slow)
		})
	}
	var out []Escape
	for i, w := range why {
		if w != "" {
			out = append(out, Escape{Param: op.Params[i].Name, Why: w})
		}
	}
	return out
}

// borrows reports whether SlowBorrows lists the parameter name.
func (h *Hot) borrows(name string) bool {
	for _, b := range h.SlowBorrows {
		if b == name {
			return true
		}
	}
	return false
}

// NoEscape reports whether the function's Go declaration may carry
// //go:noescape: no pointer argument outlives the call (Escapes is
// empty).
func (f *Function) NoEscape() bool { return len(f.Op.Escapes()) == 0 }

package rseqop

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/gorseq/rseq/internal/arch"
	"github.com/gorseq/rseq/rseqabi"
)

// Func describes one generated asm function of a package (one row of its
// op table).
type Func struct {
	Op    string   // op name, e.g. "LoadAddStore"
	Name  string   // the asm function, e.g. "zopLoadAddStore" (a hot op's: its own name)
	Fails []string // Fails[k-1] describes failure status k
	// NoEscape says that the function's Go declaration is //go:noescape:
	// no pointer argument outlives the call (the generator derives it from
	// the op; rseqoptest.CheckEscapes checks it against the compiler).
	NoEscape bool
	// Slow is a hot op's Go slow path, the target of its tail jumps ("" for
	// other ops).
	Slow string
}

// Ops is what a package of generated ops hands to Register from its
// generated initialisation (zops_table.go): its op table, the ABI0 entry
// and the descriptor (a 32-byte aligned, writable NOPTR symbol) of every
// function, and the abort counters its abort handlers increment.
type Ops struct {
	Package string // the package's import path, for OpStats and errors
	Funcs   []Func
	Entries []unsafe.Pointer // Entries[i]: ABI0 entry of Funcs[i] (nil where there is no assembly)
	Descs   []unsafe.Pointer // Descs[i]: Funcs[i]'s rseq_cs descriptor
	Aborts  []uint64         // Aborts[i]: restarts taken by Funcs[i]'s abort handler
}

// Globals are the values a package's generated assembly reads from its own
// package variables (DESIGN.md, "Thread word"): Go assembly cannot refer
// to another package's unexported symbols, so each package of generated
// ops holds copies, set once from what Register returns.
type Globals struct {
	// AreaOffset is added to the thread word to find the area.
	AreaOffset uintptr
	// OwnerOffset is 0 (no ownership check), the offset of the thread's
	// ownership word from the thread word, or OwnerDisabled.
	OwnerOffset uintptr
	// IndexOffset is the offset in struct rseq of the field hot ops index
	// by: mm_cid where the kernel fills it, else cpu_id.
	IndexOffset uintptr
}

// OwnerDisabled as Globals.OwnerOffset makes every generated op of the
// package report "no usable rseq area" (status -1, or a hot op's slow path)
// before it reads or arms anything: the value Register returns when the
// process has no rseq or the package's sections failed validation.
const OwnerDisabled = ^uintptr(0)

// indexOffset is the offset in struct rseq of the index field the process
// uses.
func indexOffset() uintptr {
	if proc.useMMCID {
		return rseqabi.OffsetMMCID
	}
	return rseqabi.OffsetCPUID
}

// maxOpCode bounds the scan of one generated function.
const maxOpCode = 8192

// registered lists the packages Register accepted or refused, for OpStats.
var registered struct {
	sync.Mutex
	pkgs []registration
}

type registration struct {
	ops   *Ops
	descs []rseqabi.CriticalSection // as armed; zero when refused
	err   error
}

// Register finds and validates the critical section of every function in
// ops and only then writes the descriptors (DESIGN.md, "Markers and
// descriptors"). It returns the Globals the package's assembly must read.
// Where the process has no usable rseq (ModeNone) or any function fails
// validation, no descriptor is written, the Globals disable every op of the
// package, and the error says why; the package's Go code then runs its
// fallbacks (SlowPath reports false for it). A generated package calls
// Register once, while it initialises.
func Register(ops *Ops) (Globals, error) {
	if ops == nil {
		return Globals{OwnerOffset: OwnerDisabled, IndexOffset: indexOffset()}, errors.New("rseqop.Register: nil op table")
	}
	err := register(ops)
	registered.Lock()
	defer registered.Unlock()
	r := registration{ops: ops, descs: make([]rseqabi.CriticalSection, len(ops.Funcs)), err: err}
	if err != nil {
		registered.pkgs = append(registered.pkgs, r)
		return Globals{OwnerOffset: OwnerDisabled, IndexOffset: indexOffset()}, err
	}
	for i := range ops.Funcs {
		r.descs[i] = *(*rseqabi.CriticalSection)(ops.Descs[i])
	}
	registered.pkgs = append(registered.pkgs, r)
	return Globals{AreaOffset: threadAreaOffset, OwnerOffset: threadOwnerOffset, IndexOffset: indexOffset()}, nil
}

func register(ops *Ops) error {
	if !proc.fastPath {
		return fmt.Errorf("%w: %s", ErrUnavailable, proc.reason)
	}
	n := len(ops.Funcs)
	if len(ops.Entries) != n || len(ops.Descs) != n || len(ops.Aborts) != n {
		return fmt.Errorf("%s: op table of %d functions with %d entries, %d descriptors, %d abort counters",
			ops.Package, n, len(ops.Entries), len(ops.Descs), len(ops.Aborts))
	}
	found := make([]rseqabi.CriticalSection, n)
	for i, fn := range ops.Funcs {
		cs, err := findSection(ops.Entries[i], ops.Descs[i], fn.Name)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", ops.Package, fn.Name, err)
		}
		found[i] = cs
	}
	for i := range found {
		*(*rseqabi.CriticalSection)(ops.Descs[i]) = found[i]
	}
	return nil
}

// findSection locates the markers of the generated function fn (entry
// and descriptor given) and checks the descriptor they give.
func findSection(entry, desc unsafe.Pointer, fn string) (rseqabi.CriticalSection, error) {
	var cs rseqabi.CriticalSection
	if entry == nil || desc == nil {
		return cs, errors.New("no address")
	}
	if uintptr(desc)%rseqabi.CriticalSectionAlign != 0 {
		return cs, fmt.Errorf("descriptor at %p is not %d-byte aligned", desc, rseqabi.CriticalSectionAlign)
	}
	f := runtime.FuncForPC(uintptr(entry))
	if f == nil || f.Entry() != uintptr(entry) || !strings.HasSuffix(f.Name(), "."+fn) {
		return cs, fmt.Errorf("entry %p is not the start of function %s", entry, fn)
	}
	a, ok := arch.Lookup(runtime.GOARCH)
	if !ok {
		return cs, fmt.Errorf("no critical sections for %s", runtime.GOARCH)
	}
	n := 0
	for n < maxOpCode {
		g := runtime.FuncForPC(uintptr(entry) + uintptr(n))
		if g == nil || g.Entry() != uintptr(entry) {
			break
		}
		n += a.InsnAlign
	}
	if n == 0 || n >= maxOpCode {
		return cs, fmt.Errorf("cannot find the end of the function (scanned %d bytes)", n)
	}
	code := unsafe.Slice((*byte)(entry), n)
	start, err := findOnce(code, arch.Bytes(a.StartMarker), a.InsnAlign, "start_ip marker")
	if err != nil {
		return cs, err
	}
	post, err := findOnce(code, arch.Bytes(a.PostCommitMarker), a.InsnAlign, "post_commit_ip marker")
	if err != nil {
		return cs, err
	}
	sig := a.AbortBytes()
	abort, err := findOnce(code, sig, a.InsnAlign, "abort signature")
	if err != nil {
		return cs, err
	}
	abort += len(sig)
	base := uint64(uintptr(entry))
	cs = rseqabi.CriticalSection{
		StartIP:          base + uint64(start),
		PostCommitOffset: uint64(post - start),
		AbortIP:          base + uint64(abort),
	}
	return cs, checkSection(cs, code, base)
}

// checkSection validates cs against the code it describes.
func checkSection(cs rseqabi.CriticalSection, code []byte, base uint64) error {
	end := base + uint64(len(code))
	post := cs.StartIP + cs.PostCommitOffset
	switch {
	case cs.Version != 0 || cs.Flags != 0:
		return errors.New("descriptor version and flags must be 0")
	case cs.StartIP < base || cs.PostCommitOffset == 0 || post >= end:
		return fmt.Errorf("section [%#x, %#x) not inside the function [%#x, %#x)", cs.StartIP, post, base, end)
	case cs.AbortIP >= cs.StartIP && cs.AbortIP < post:
		return fmt.Errorf("abort_ip %#x inside the section [%#x, %#x)", cs.AbortIP, cs.StartIP, post)
	case cs.AbortIP < base+4 || cs.AbortIP >= end:
		return fmt.Errorf("abort_ip %#x outside the function", cs.AbortIP)
	}
	if sig := binary.LittleEndian.Uint32(code[cs.AbortIP-base-4:]); sig != rseqabi.Signature {
		return fmt.Errorf("abort_ip-4 holds %#08x, not the registered signature %#08x", sig, rseqabi.Signature)
	}
	return nil
}

// findOnce returns the offset of the only occurrence of pat in code at a
// multiple of align.
func findOnce(code, pat []byte, align int, what string) (int, error) {
	at, n := -1, 0
	for off := 0; off+len(pat) <= len(code); off += align {
		if bytes.Equal(code[off:off+len(pat)], pat) {
			at = off
			n++
		}
	}
	if n != 1 {
		return 0, fmt.Errorf("%s found %d times, want exactly once", what, n)
	}
	return at, nil
}

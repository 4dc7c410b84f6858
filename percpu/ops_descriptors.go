package percpu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
)

// The generated functions' code addresses and descriptors (zopAddrs), and
// the descriptors as validated and armed by initOps.
var (
	zopFns, zopDescPtrs [zopCount]unsafe.Pointer
	zopDescs            [zopCount]rseqabi.CriticalSection
)

// maxOpCode bounds the scan of one generated function.
const maxOpCode = 8192

// initOps finds and validates the critical section of every generated
// function and only then writes the descriptors. Go's amd64 assembler cannot
// take a label's address, so the bounds are found by scanning each
// function's code from its ABI0 entry to its end (runtime.FuncForPC) for the
// start_ip marker, the post_commit_ip marker and the abort signature, each
// of which must occur exactly once (DESIGN.md, "Markers and descriptors").
// Any failure leaves every descriptor zero and returns why; the caller then
// keeps the fast path off, so no bad descriptor is ever armed.
func initOps() error {
	if !haveAsm {
		return errors.New("no generated critical sections in this build")
	}
	zopAddrs(&zopFns, &zopDescPtrs)
	var found [zopCount]rseqabi.CriticalSection
	for i := range zopTable {
		cs, err := findSection(i)
		if err != nil {
			return fmt.Errorf("%s: %w", zopTable[i].fn, err)
		}
		found[i] = cs
	}
	for i := range found {
		*(*rseqabi.CriticalSection)(zopDescPtrs[i]) = found[i]
	}
	zopDescs = found
	return nil
}

// findSection locates the markers of generated function i and checks the
// descriptor they give.
func findSection(i int) (rseqabi.CriticalSection, error) {
	var cs rseqabi.CriticalSection
	entry, desc := zopFns[i], zopDescPtrs[i]
	if entry == nil || desc == nil {
		return cs, errors.New("no address")
	}
	if uintptr(desc)%rseqabi.CriticalSectionAlign != 0 {
		return cs, fmt.Errorf("descriptor at %p is not %d-byte aligned", desc, rseqabi.CriticalSectionAlign)
	}
	f := runtime.FuncForPC(uintptr(entry))
	if f == nil || f.Entry() != uintptr(entry) || !strings.HasSuffix(f.Name(), "."+zopTable[i].fn) {
		return cs, fmt.Errorf("entry %p is not the start of function %s", entry, zopTable[i].fn)
	}
	step := 1
	if runtime.GOARCH == "arm64" {
		step = 4
	}
	n := 0
	for n < maxOpCode {
		g := runtime.FuncForPC(uintptr(entry) + uintptr(n))
		if g == nil || g.Entry() != uintptr(entry) {
			break
		}
		n += step
	}
	if n == 0 || n >= maxOpCode {
		return cs, fmt.Errorf("cannot find the end of the function (scanned %d bytes)", n)
	}
	code := unsafe.Slice((*byte)(entry), n)
	var start, post, abort int
	var err error
	switch runtime.GOARCH {
	case "amd64":
		var m [8]byte
		binary.LittleEndian.PutUint32(m[:4], zopAMD64MarkerPrefix)
		binary.LittleEndian.PutUint32(m[4:], zopAMD64Start)
		if start, err = findOnce(code, m[:], 1, "start_ip marker"); err != nil {
			return cs, err
		}
		binary.LittleEndian.PutUint32(m[4:], zopAMD64PostCommit)
		if post, err = findOnce(code, m[:], 1, "post_commit_ip marker"); err != nil {
			return cs, err
		}
		sig := append(zopAMD64SigPrefix[:], 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(sig[3:], zopSignature)
		if abort, err = findOnce(code, sig, 1, "abort signature"); err != nil {
			return cs, err
		}
		abort += len(sig)
	case "arm64":
		word := func(w uint32) []byte { return binary.LittleEndian.AppendUint32(nil, w) }
		if start, err = findOnce(code, word(zopARM64Start), 4, "start_ip marker"); err != nil {
			return cs, err
		}
		if post, err = findOnce(code, word(zopARM64PostCommit), 4, "post_commit_ip marker"); err != nil {
			return cs, err
		}
		if abort, err = findOnce(code, word(zopARM64Signature), 4, "abort signature"); err != nil {
			return cs, err
		}
		abort += 4
	default:
		return cs, fmt.Errorf("no descriptor scan for %s", runtime.GOARCH)
	}
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

// OpStat describes one generated per-CPU operation in one index variant.
type OpStat struct {
	// Name is the op, e.g. "LoadAddLoadLoadAddStore" (gen/ops).
	Name string
	// Func is the generated Go function, e.g. "opLoadAddLoadLoadAddStoreCPU".
	Func string
	// Index is the area field the op indexes per-CPU data by: "cpu_id" or "mm_cid".
	Index string
	// Fails describes the op's failure statuses: Fails[k-1] is status k.
	Fails []string
	// Descriptor is the rseq_cs as armed; all zero when the generated ops
	// were rejected or do not exist in this build.
	Descriptor rseqabi.CriticalSection
	// Aborts counts the restarts the op's abort handler has taken since
	// the process started.
	Aborts uint64
}

// OpStats lists every generated per-CPU operation with its descriptor and
// abort count, in the order of the generated op table.
func OpStats() []OpStat {
	out := make([]OpStat, zopCount)
	for i, t := range zopTable {
		out[i] = OpStat{
			Name: t.op, Func: t.fn, Index: t.index, Fails: t.fails,
			Descriptor: zopDescs[i], Aborts: atomic.LoadUint64(&zopAborts[i]),
		}
	}
	return out
}

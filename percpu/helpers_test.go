package percpu

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
)

// Helpers only tests use, kept out of the shipping files (as Go's
// src/sync/export_test.go does): views of unexported state and abort counts.

// opFastPath says whether the generated critical sections run in this
// process (otherwise the ops' tests run their fallbacks only).
func opFastPath() bool { return proc.fastPath && zopHaveAsm }

// forEachPooled calls fn for every object below a slot's count (quiescent
// pool).
func (f *poolFast[T]) forEachPooled(fn func(*T)) {
	for i := 0; i < int(f.limit) && f.tops != nil; i++ {
		n := atomic.LoadUint64(f.count(i))
		for _, x := range f.region(i)[:min(n, uint64(f.capacity))] {
			fn(x)
		}
	}
}

// forEachRetained calls fn for every non-nil entry: pooled objects and
// stale references (quiescent pool).
func (f *poolFast[T]) forEachRetained(fn func(*T)) {
	for i := 0; i < int(f.limit) && f.tops != nil; i++ {
		for _, x := range f.region(i) {
			if x != nil {
				fn(x)
			}
		}
	}
}

// checkSlots verifies a quiescent pool's caches: every count is at most the
// capacity and every entry below it holds an object, except holes: only an
// aborted poolGet leaves one (its nil store ran, its commit did not), so
// there are at most as many as poolGet has aborted.
func (f *poolFast[T]) checkSlots() error {
	holes, maxHoles := uint64(0), hotAborts("poolGet")
	for i := 0; i < int(f.limit) && f.tops != nil; i++ {
		n := atomic.LoadUint64(f.count(i))
		if n > uint64(f.capacity) {
			return fmt.Errorf("slot %d: count %d beyond capacity %d", i, n, f.capacity)
		}
		for k, x := range f.region(i)[:n] {
			if x == nil {
				holes++
				if holes > maxHoles {
					return fmt.Errorf("slot %d: entry %d of %d is nil, and poolGet aborted only %d times (each abort leaves at most one hole)", i, k, n, maxHoles)
				}
			}
		}
	}
	return nil
}

// hotAborts is the abort count of percpu's generated function fn.
func hotAborts(fn string) uint64 {
	n, _ := rseqop.Aborts(zopPackage, fn)
	return n
}

// isPoolFunc says whether generated function name is one of the pool's
// (PoolPop/PoolPush in both variants, the hot ops poolGet and poolPut).
func isPoolFunc(name string) bool {
	return strings.HasPrefix(name, "opPool") || strings.HasPrefix(name, "pool")
}

// poolAborts describes the pool ops' abort counts (tests).
func poolAborts() string {
	var b strings.Builder
	b.WriteString("pool op aborts:")
	for i, op := range zopTable {
		if isPoolFunc(op.Name) {
			fmt.Fprintf(&b, " %s %d", strings.TrimPrefix(op.Name, "op"), atomic.LoadUint64(&zopAborts[i]))
		}
	}
	return b.String()
}

// poolAbortTotal is the number of aborted pool critical sections so far.
func poolAbortTotal() uint64 {
	var n uint64
	for i, op := range zopTable {
		if isPoolFunc(op.Name) {
			n += atomic.LoadUint64(&zopAborts[i])
		}
	}
	return n
}

// registerThisThread registers the calling thread (rseqop.SlowPath) and
// reports whether percpu's ops can run on it.
func registerThisThread() bool { return slowPath() }

// Offsets of struct rseq's index fields, which zopIndexOffset holds one of
// (the kernel ABI's constants, which TestHotOpLayout compares with the
// Area type).
const (
	areaCPUIDOffset = rseqabi.OffsetCPUID
	areaMMCIDOffset = rseqabi.OffsetMMCID
)

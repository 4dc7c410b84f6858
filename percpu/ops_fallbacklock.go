package percpu

import (
	"runtime"
	"sync/atomic"
)

// fallbackMu is the lock the generated fallbacks (zops_fallback.go) take
// around one shard: a test-and-set lock on sync/atomic, so that the race
// detector sees the happens-before edges, padded to its own cache line.
type fallbackMu struct {
	v atomic.Uint32
	_ [60]byte
}

// fallbackLocks are striped by shard index: all fallback ops on one shard of
// any structure take the same lock (two shards may share one; that only
// costs contention).
var fallbackLocks [64]fallbackMu

func fallbackLock(shard uintptr) *fallbackMu {
	return &fallbackLocks[shard%uintptr(len(fallbackLocks))]
}

func (m *fallbackMu) lock() {
	for spins := 0; !m.v.CompareAndSwap(0, 1); spins++ {
		if spins > 16 {
			runtime.Gosched()
		}
	}
}

func (m *fallbackMu) unlock() { m.v.Store(0) }

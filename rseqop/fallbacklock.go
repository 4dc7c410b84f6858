package rseqop

import (
	"runtime"
	"sync/atomic"
)

// FallbackMutex is the lock the generated fallbacks (zops_fallback.go of
// every package of generated ops) take around one shard: a test-and-set
// lock on sync/atomic, so that the race detector sees the happens-before
// edges, padded to its own cache line.
type FallbackMutex struct {
	v atomic.Uint32
	_ [60]byte
}

// fallbackLocks are striped by shard index: all fallback ops on one shard of
// any structure take the same lock (two shards may share one; that only
// costs contention).
var fallbackLocks [64]FallbackMutex

// FallbackLock returns the lock of shard.
func FallbackLock(shard uintptr) *FallbackMutex {
	return &fallbackLocks[shard%uintptr(len(fallbackLocks))]
}

// Lock takes the lock, yielding the processor while it is contended.
func (m *FallbackMutex) Lock() {
	for spins := 0; !m.v.CompareAndSwap(0, 1); spins++ {
		if spins > 16 {
			runtime.Gosched()
		}
	}
}

// Unlock releases the lock.
func (m *FallbackMutex) Unlock() { m.v.Store(0) }

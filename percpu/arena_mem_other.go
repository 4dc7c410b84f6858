//go:build !linux

package percpu

import "unsafe"

// arenaChunks keeps the chunks reachable (they are Go heap memory here).
var arenaChunks [][]uint64

// mapArenaChunk allocates n bytes of zeroed memory, aligned to arenaRegion,
// from the Go heap (no critical sections here: only atomics touch it).
func mapArenaChunk(n int) unsafe.Pointer {
	buf := make([]uint64, (n+arenaRegion)/8)
	arenaChunks = append(arenaChunks, buf)
	p := unsafe.Pointer(&buf[0])
	return unsafe.Add(p, (arenaRegion-uintptr(p)%arenaRegion)%arenaRegion)
}

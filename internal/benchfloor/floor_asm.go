//go:build amd64 || arm64

package benchfloor

import "unsafe"

// Empty returns at once. It has counterAdd's frame (base, delta) and, like
// it, a NOSPLIT $0 frame (floor_amd64.s, floor_arm64.s).
//
//go:noescape
func Empty(base unsafe.Pointer, delta int64)

// Get returns state: poolGet's frame, for the floor of a Get+Put pair.
// Not //go:noescape: it returns its argument (the compiler must let state
// escape, as it does for poolGet, which returns what state leads to).
func Get(state unsafe.Pointer) unsafe.Pointer

// Put returns at once: poolPut's frame. Its //go:noescape is true (it
// keeps nothing); poolPut, which keeps x, has none.
//
//go:noescape
func Put(state, x unsafe.Pointer)

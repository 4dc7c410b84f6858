//go:build amd64 || arm64

package benchfloor

import "unsafe"

// Empty returns at once. It has counterAdd's frame (base, delta) and, like
// it, a NOSPLIT $0 frame (floor_amd64.s, floor_arm64.s).
//
//go:noescape
func Empty(base unsafe.Pointer, delta int64)

// Get returns state: poolGet's frame, for the floor of a Get+Put pair.
//
//go:noescape
func Get(state unsafe.Pointer) unsafe.Pointer

// Put returns at once: poolPut's frame.
//
//go:noescape
func Put(state, x unsafe.Pointer)

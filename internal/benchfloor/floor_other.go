//go:build !amd64 && !arm64

package benchfloor

import "unsafe"

// Empty is a Go function where there is no assembly version.
//
//go:noinline
func Empty(base unsafe.Pointer, delta int64) {}

// Get returns state.
//
//go:noinline
func Get(state unsafe.Pointer) unsafe.Pointer { return state }

// Put returns at once.
//
//go:noinline
func Put(state, x unsafe.Pointer) {}

//go:build !amd64 && !arm64

package benchfloor

import "unsafe"

// Empty is a Go function where there is no assembly version.
//
//go:noinline
func Empty(base unsafe.Pointer, delta int64) {}

//go:build !(linux && amd64 && cgo)

package cbench

import "unsafe"

// Available is false: the C critical section exists for linux/amd64 cgo
// builds only.
func Available() bool { return false }

// Add is not available in this build; it returns -1.
func Add(slots unsafe.Pointer, limit, idxOffset uintptr, n int) int64 { return -1 }

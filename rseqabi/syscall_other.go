//go:build !linux

package rseqabi

import (
	"syscall"
	"unsafe"
)

// Register always fails with ErrNotSupported outside Linux.
func Register(area unsafe.Pointer, length uint32, sig uint32) error {
	return &Error{Op: "register", Errno: syscall.ENOSYS}
}

// Unregister always fails with ErrNotSupported outside Linux.
func Unregister(area unsafe.Pointer, length uint32, sig uint32) error {
	return &Error{Op: "unregister", Errno: syscall.ENOSYS}
}

// Gettid returns 0 outside Linux.
func Gettid() int { return 0 }

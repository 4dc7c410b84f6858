//go:build !linux

package rseqabi

import "syscall"

// MembarrierSupportsRseq is false outside Linux.
func MembarrierSupportsRseq() bool { return false }

// MembarrierRegisterRseq fails outside Linux.
func MembarrierRegisterRseq() error { return &Error{Op: "membarrier", Errno: syscall.ENOSYS} }

// MembarrierRseqFence fails outside Linux.
func MembarrierRseqFence() error { return &Error{Op: "membarrier", Errno: syscall.ENOSYS} }

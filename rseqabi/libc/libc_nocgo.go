//go:build !cgo || !linux

package libc

import "unsafe"

// Detect reports that no C library takes part (no cgo).
func Detect() Info { return Info{} }

// ThreadPointer returns 0 without cgo.
func ThreadPointer() uintptr { return 0 }

// GlibcArea returns nil without cgo.
func GlibcArea() unsafe.Pointer { return nil }

// LegacyArea returns nil without cgo.
func LegacyArea() unsafe.Pointer { return nil }

// LegacyRefcount returns 0 without cgo.
func LegacyRefcount() uint32 { return 0 }

// LegacyRegister fails without cgo.
func LegacyRegister(length, sig uint32) error { return ErrNoCgo }

// LegacyUnregister fails without cgo.
func LegacyUnregister(length, sig uint32) error { return ErrNoCgo }

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

// OwnerWordOffset returns 0 without cgo (no TLS of ours).
func OwnerWordOffset() uintptr { return 0 }

// OwnerWord returns 0 without cgo.
func OwnerWord() uintptr { return 0 }

// SetOwnerWord does nothing without cgo.
func SetOwnerWord(v uintptr) {}

// ThreadWatch is never valid without cgo (no thread-exit hook).
type ThreadWatch struct{}

// WatchThread fails without cgo.
func WatchThread() (ThreadWatch, error) { return ThreadWatch{}, ErrNoCgo }

// Valid reports false without cgo.
func (ThreadWatch) Valid() bool { return false }

// Dead reports false without cgo.
func (ThreadWatch) Dead() bool { return false }

// LoadUint32 reads *p without cgo (no watch: never called).
func (ThreadWatch) LoadUint32(p *uint32) (uint32, bool) { return *p, true }

// Stop does nothing without cgo.
func (ThreadWatch) Stop() {}

// Release does nothing without cgo.
func (ThreadWatch) Release() {}

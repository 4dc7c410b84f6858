//go:build linux && (amd64 || arm64) && !purego

package rseqop

import "unsafe"

// haveAsm is true where the generated critical sections (zops_asm.go) and
// the thread word exist: linux/amd64 and linux/arm64 without the purego
// tag. This file's build constraint is zops_asm.go's (a test checks).
const haveAsm = true

// readThreadWord returns the calling thread's thread word (DESIGN.md).
func readThreadWord() uintptr

// writeThreadWord sets the calling thread's thread word (builds without cgo).
func writeThreadWord(w unsafe.Pointer)

// currentArea returns the calling thread's area as the generated ops find
// it, or nil.
func currentArea() unsafe.Pointer

// currentOwnerWord returns the calling thread's ownership word (at thread
// word + threadOwnerOffset), or 0 where there is none.
func currentOwnerWord() uintptr

// readThreadWordMinus8 returns the word below the thread word (amd64: Go's g
// slot in builds without cgo).
func readThreadWordMinus8() uintptr

// getg returns the calling goroutine's runtime g.
func getg() unsafe.Pointer

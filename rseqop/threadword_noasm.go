//go:build !(linux && (amd64 || arm64) && !purego)

package rseqop

import "unsafe"

// haveAsm is false: no critical sections (zops_noasm.go's stand-ins) and no
// thread word; every structure uses its fallback. This file's build
// constraint is zops_noasm.go's (a test checks).
const haveAsm = false

func readThreadWord() uintptr        { return 0 }
func writeThreadWord(unsafe.Pointer) {}
func currentArea() unsafe.Pointer    { return nil }
func currentOwnerWord() uintptr      { return 0 }
func readThreadWordMinus8() uintptr  { return 0 }
func getg() unsafe.Pointer           { return nil }

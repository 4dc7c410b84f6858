//go:build linux && !purego

#include "textflag.h"

// The thread word is TPIDR_EL0. With cgo it is glibc's thread pointer;
// without cgo Go never writes it, so it holds the address of this thread's
// record {area [32]byte; owner M at +32}. A new thread inherits its creator's
// TPIDR_EL0 (Go's clone passes no CLONE_SETTLS), hence the owner check.

// func readThreadWord() uintptr
TEXT ·readThreadWord(SB), NOSPLIT, $0-8
	MRS TPIDR_EL0, R0
	MOVD R0, ret+0(FP)
	RET

// func writeThreadWord(w unsafe.Pointer)
// Only for builds without cgo.
TEXT ·writeThreadWord(SB), NOSPLIT, $0-8
	MOVD w+0(FP), R0
	MSR R0, TPIDR_EL0
	RET

// func currentArea() unsafe.Pointer
// Returns the calling thread's area, or nil when the thread word is 0 or
// (without cgo) the record belongs to another M. Same lookup as the
// generated prologue.
TEXT ·currentArea(SB), NOSPLIT, $0-8
	MRS TPIDR_EL0, R0
	CBZ R0, none
	MOVD ·threadOwnerOffset(SB), R1
	CBZ R1, owned
	MOVD (R0)(R1), R2
	MOVD 48(g), R3 // g.m
	CMP R2, R3
	BNE none
owned:
	MOVD ·threadAreaOffset(SB), R1
	ADD R1, R0, R0
	MOVD R0, ret+0(FP)
	RET
none:
	MOVD ZR, ret+0(FP)
	RET

// func currentOwnerWord() uintptr
// Returns the calling thread's ownership word (thread word +
// threadOwnerOffset), or 0 when the thread word or threadOwnerOffset is 0.
TEXT ·currentOwnerWord(SB), NOSPLIT, $0-8
	MRS TPIDR_EL0, R0
	CBZ R0, zero
	MOVD ·threadOwnerOffset(SB), R1
	CBZ R1, zero
	MOVD (R0)(R1), R0
	MOVD R0, ret+0(FP)
	RET
zero:
	MOVD ZR, ret+0(FP)
	RET

// func readThreadWordMinus8() uintptr
// Not meaningful on arm64 (g lives in R28); returns g so the self-check that
// compares the two passes.
TEXT ·readThreadWordMinus8(SB), NOSPLIT, $0-8
	MOVD g, R0
	MOVD R0, ret+0(FP)
	RET

// func getg() unsafe.Pointer
TEXT ·getg(SB), NOSPLIT, $0-8
	MOVD g, R0
	MOVD R0, ret+0(FP)
	RET

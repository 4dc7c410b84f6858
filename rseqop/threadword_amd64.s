//go:build linux && !purego

#include "textflag.h"

// The thread word is FS:0. With cgo it is glibc's thread pointer (the TCB
// points at itself); without cgo Go sets FS to &m.tls[1] and leaves that word
// unused, so it holds the address of this thread's rseq area (0: none yet).
// The Go assembler has no FS:0 absolute form, hence the raw encodings.

// func readThreadWord() uintptr
// Returns FS:0 of the calling thread.
TEXT ·readThreadWord(SB), NOSPLIT, $0-8
	BYTE $0x64; BYTE $0x48; BYTE $0x8b; BYTE $0x04; BYTE $0x25; LONG $0x00000000 // MOVQ FS:0, AX
	MOVQ AX, ret+0(FP)
	RET

// func writeThreadWord(w unsafe.Pointer)
// Stores w into FS:0 of the calling thread. Only for builds without cgo,
// where FS:0 is Go's unused m.tls[1].
TEXT ·writeThreadWord(SB), NOSPLIT, $0-8
	MOVQ w+0(FP), AX
	BYTE $0x64; BYTE $0x48; BYTE $0x89; BYTE $0x04; BYTE $0x25; LONG $0x00000000 // MOVQ AX, FS:0
	RET

// func currentArea() unsafe.Pointer
// Returns the calling thread's area (thread word + threadAreaOffset), or nil
// when the thread word is 0 or (threadOwnerOffset != 0) the ownership word
// is not > 0. Same lookup as the generated prologue.
TEXT ·currentArea(SB), NOSPLIT, $0-8
	BYTE $0x64; BYTE $0x48; BYTE $0x8b; BYTE $0x04; BYTE $0x25; LONG $0x00000000 // MOVQ FS:0, AX
	TESTQ AX, AX
	JZ none
	MOVQ ·threadOwnerOffset(SB), CX
	TESTQ CX, CX
	JZ owned
	CMPQ (AX)(CX*1), $0
	JLE none
owned:
	ADDQ ·threadAreaOffset(SB), AX
	MOVQ AX, ret+0(FP)
	RET
none:
	MOVQ $0, ret+0(FP)
	RET

// func currentOwnerWord() uintptr
// Returns the calling thread's ownership word (thread word +
// threadOwnerOffset), or 0 when the thread word or threadOwnerOffset is 0.
TEXT ·currentOwnerWord(SB), NOSPLIT, $0-8
	BYTE $0x64; BYTE $0x48; BYTE $0x8b; BYTE $0x04; BYTE $0x25; LONG $0x00000000 // MOVQ FS:0, AX
	TESTQ AX, AX
	JZ zero
	MOVQ ·threadOwnerOffset(SB), CX
	TESTQ CX, CX
	JZ zero
	MOVQ (AX)(CX*1), AX
	MOVQ AX, ret+0(FP)
	RET
zero:
	MOVQ $0, ret+0(FP)
	RET

// func readThreadWordMinus8() uintptr
// Returns FS:-8, where Go keeps g in builds without cgo (self-check only).
TEXT ·readThreadWordMinus8(SB), NOSPLIT, $0-8
	BYTE $0x64; BYTE $0x48; BYTE $0x8b; BYTE $0x04; BYTE $0x25; LONG $0xfffffff8 // MOVQ FS:-8, AX
	MOVQ AX, ret+0(FP)
	RET

// func getg() unsafe.Pointer
// Returns the current g, read the way the runtime does.
TEXT ·getg(SB), NOSPLIT, $0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET

#include "textflag.h"

// func Empty(base unsafe.Pointer, delta int64)
TEXT ·Empty(SB), NOSPLIT, $0-16
	RET

// func Get(state unsafe.Pointer) unsafe.Pointer
TEXT ·Get(SB), NOSPLIT, $0-16
	MOVQ state+0(FP), AX
	MOVQ AX, ret+8(FP)
	RET

// func Put(state, x unsafe.Pointer)
TEXT ·Put(SB), NOSPLIT, $0-16
	RET

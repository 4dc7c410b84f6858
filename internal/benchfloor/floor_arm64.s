#include "textflag.h"

// func Empty(base unsafe.Pointer, delta int64)
TEXT ·Empty(SB), NOSPLIT, $0-16
	RET

package rseqabi

import "github.com/gorseq/rseq/internal/arch"

// Signature is the 4-byte value that must precede every abort handler and
// that is passed to the rseq system call. On x86 it is the operand of the
// ud1 instruction librseq places before its handlers (0f b9 3d 53 30 05 53),
// so that executing it traps.
const Signature uint32 = arch.SignatureAMD64

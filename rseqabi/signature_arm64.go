package rseqabi

import "github.com/gorseq/rseq/internal/arch"

// Signature is the 4-byte value that must precede every abort handler and
// that is passed to the rseq system call. On arm64 it is the encoding of
// BRK #0x45e0, so that executing it traps.
const Signature uint32 = arch.SignatureARM64

//go:build !amd64 && !arm64

package rseqabi

// Signature is 0 on architectures this module has no critical sections for;
// registration there is still possible and serves cpu_id reads only.
const Signature uint32 = 0

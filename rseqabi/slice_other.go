//go:build !linux

package rseqabi

import "syscall"

// DetectSliceExtension reports the extension absent outside Linux.
func DetectSliceExtension() SliceExtension {
	return SliceExtension{Err: &Error{Op: "prctl(PR_RSEQ_SLICE_EXTENSION)", Errno: syscall.ENOSYS}}
}

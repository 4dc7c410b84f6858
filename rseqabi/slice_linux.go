package rseqabi

import "golang.org/x/sys/unix"

// DetectSliceExtension asks the kernel, for the calling thread, whether it
// has the rseq time slice extension and whether it is enabled. It changes
// nothing.
func DetectSliceExtension() SliceExtension {
	r, _, e := unix.RawSyscall6(unix.SYS_PRCTL, PR_RSEQ_SLICE_EXTENSION, PR_RSEQ_SLICE_EXTENSION_GET, 0, 0, 0, 0)
	return sliceExtensionFrom(r, e)
}

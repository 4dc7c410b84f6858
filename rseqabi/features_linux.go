package rseqabi

import (
	"encoding/binary"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DetectFeatures reads AT_RSEQ_FEATURE_SIZE and AT_RSEQ_ALIGN from the
// process' aux vector (through the runtime's copy, or /proc/self/auxv).
func DetectFeatures() Features {
	auxv, err := unix.Auxv()
	if err != nil || len(auxv) == 0 {
		auxv = readProcAuxv()
	}
	return FeaturesFromAuxv(auxv)
}

func readProcAuxv() [][2]uintptr {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return nil
	}
	const w = int(unsafe.Sizeof(uintptr(0)))
	var out [][2]uintptr
	for i := 0; i+2*w <= len(b); i += 2 * w {
		k, v := word(b[i:]), word(b[i+w:])
		if k == 0 {
			break
		}
		out = append(out, [2]uintptr{k, v})
	}
	return out
}

func word(b []byte) uintptr {
	if unsafe.Sizeof(uintptr(0)) == 4 {
		return uintptr(binary.NativeEndian.Uint32(b))
	}
	return uintptr(binary.NativeEndian.Uint64(b))
}

package rseqabi

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Aux vector tags of rseq (include/uapi/linux/auxvec.h, Linux 6.3+).
const (
	AT_RSEQ_FEATURE_SIZE = 27
	AT_RSEQ_ALIGN        = 28
)

// Features says which parts of struct rseq the running kernel fills.
type Features struct {
	// FeatureSize is the number of bytes of struct rseq the kernel fills:
	// AT_RSEQ_FEATURE_SIZE, or OrigFeatureSize (20) on kernels that predate
	// the aux vector entry (before 6.3).
	FeatureSize uint32
	// Align is the alignment the area needs: AT_RSEQ_ALIGN, or 32.
	Align uint32
	// FromAuxv is true when both values came from the aux vector.
	FromAuxv bool
}

// HasNodeID reports whether the kernel fills Area.NodeID.
func (f Features) HasNodeID() bool { return f.FeatureSize >= FeatureSizeNodeID }

// HasMMCID reports whether the kernel fills Area.MMCID.
func (f Features) HasMMCID() bool { return f.FeatureSize >= FeatureSizeMMCID }

// RegisterLength is the extended registration length: at least AreaSize,
// and the feature size rounded up to the alignment on kernels that fill
// more (Linux 7.x: feature size 33, alignment 64, so 64 bytes aligned to
// 64). glibc 2.40 and later register that length. gorseq registers its own
// areas with the original AreaSize at 32-byte alignment, which the kernel
// accepts for backward compatibility and which covers every field it reads
// (DESIGN.md); it uses this length only to recognise glibc's registration.
func (f Features) RegisterLength() uint32 {
	n := f.FeatureSize
	if a := f.Align; a > 1 {
		n = (n + a - 1) / a * a
	}
	if n < AreaSize {
		n = AreaSize
	}
	return n
}

func (f Features) String() string {
	src := "defaults (no AT_RSEQ_* in auxv)"
	if f.FromAuxv {
		src = "auxv"
	}
	return fmt.Sprintf("feature size %d, align %d (%s): node_id %v, mm_cid %v",
		f.FeatureSize, f.Align, src, f.HasNodeID(), f.HasMMCID())
}

// FeaturesFromAuxv interprets aux vector pairs (tag, value).
func FeaturesFromAuxv(auxv [][2]uintptr) Features {
	f := Features{FeatureSize: OrigFeatureSize, Align: AreaAlign}
	var haveSize, haveAlign bool
	for _, kv := range auxv {
		switch kv[0] {
		case AT_RSEQ_FEATURE_SIZE:
			f.FeatureSize, haveSize = uint32(kv[1]), true
		case AT_RSEQ_ALIGN:
			f.Align, haveAlign = uint32(kv[1]), true
		}
	}
	if f.FeatureSize < OrigFeatureSize {
		f.FeatureSize = OrigFeatureSize
	}
	if f.Align < AreaAlign {
		f.Align = AreaAlign
	}
	f.FromAuxv = haveSize && haveAlign
	return f
}

// ParseCPUList parses the kernel's CPU list format ("0-3,8,10-11") and
// returns the highest CPU number plus one: the number of slots an array
// indexed by CPU number needs.
func ParseCPUList(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("rseqabi: empty CPU list")
	}
	max := -1
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("rseqabi: bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("rseqabi: bad CPU list %q", s)
			}
		}
		if b > max {
			max = b
		}
	}
	return max + 1, nil
}

// PossibleCPUPath is where the kernel lists the CPUs that can ever be online.
const PossibleCPUPath = "/sys/devices/system/cpu/possible"

// PossibleCPUs returns the number of CPU ids the kernel can ever report
// (highest possible CPU + 1). It is NOT runtime.NumCPU, which counts the
// CPUs in the affinity mask: under `taskset -c 1` NumCPU is 1 while cpu_id
// is 1, so arrays indexed by cpu_id must be sized by this number.
func PossibleCPUs() (int, error) {
	b, err := os.ReadFile(PossibleCPUPath)
	if err != nil {
		return 0, err
	}
	return ParseCPUList(string(b))
}

package rseqabi

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

func TestLayout(t *testing.T) {
	var a Area
	var cs CriticalSection
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct rseq)", unsafe.Sizeof(a), AreaSize},
		{"cpu_id_start", unsafe.Offsetof(a.CPUIDStart), OffsetCPUIDStart},
		{"cpu_id", unsafe.Offsetof(a.CPUID), OffsetCPUID},
		{"rseq_cs", unsafe.Offsetof(a.CS), OffsetCS},
		{"flags", unsafe.Offsetof(a.Flags), OffsetFlags},
		{"node_id", unsafe.Offsetof(a.NodeID), OffsetNodeID},
		{"mm_cid", unsafe.Offsetof(a.MMCID), OffsetMMCID},
		{"sizeof(struct rseq_cs)", unsafe.Sizeof(cs), CriticalSectionSize},
		{"start_ip", unsafe.Offsetof(cs.StartIP), CSOffsetStartIP},
		{"post_commit_offset", unsafe.Offsetof(cs.PostCommitOffset), CSOffsetPostCommitOffset},
		{"abort_ip", unsafe.Offsetof(cs.AbortIP), CSOffsetAbortIP},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	uninit, failed := CPUIDUninitialized, CPUIDRegistrationFailed
	if int32(uninit) != -1 || int32(failed) != -2 {
		t.Errorf("cpu_id sentinels: %d %d", int32(uninit), int32(failed))
	}
}

func TestSignature(t *testing.T) {
	want := map[string]uint32{"amd64": 0x53053053, "arm64": 0xd428bc00}
	if w, ok := want[runtime.GOARCH]; ok && Signature != w {
		t.Fatalf("Signature = %#x, want %#x", Signature, w)
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		errno syscall.Errno
		want  error
	}{
		{syscall.EBUSY, ErrBusy},
		{syscall.EINVAL, ErrInvalid},
		{syscall.EPERM, ErrPermission},
		{syscall.ENOSYS, ErrNotSupported},
		{syscall.EFAULT, ErrFault},
	}
	for _, c := range cases {
		err := error(&Error{Op: "register", Errno: c.errno})
		if !errors.Is(err, c.want) || !errors.Is(err, c.errno) {
			t.Errorf("%v: errors.Is(%v) false", c.errno, c.want)
		}
		for _, other := range cases {
			if other.want != c.want && errors.Is(err, other.want) {
				t.Errorf("%v wrongly matches %v", c.errno, other.want)
			}
		}
	}
	if err := (&Error{Op: "register", Errno: syscall.E2BIG}); errors.Is(err, ErrBusy) || err.Error() == "" {
		t.Errorf("unmapped errno: %v", err)
	}
	// membarrier's EPERM is a seccomp filter or a missing registration,
	// not rseq's signature mismatch.
	err := error(&Error{Op: "membarrier", Errno: syscall.EPERM})
	if errors.Is(err, ErrPermission) || !errors.Is(err, syscall.EPERM) || err.Error() != "rseq: membarrier: operation not permitted (EPERM)" {
		t.Errorf("membarrier EPERM: %q, Is(ErrPermission) = %v", err, errors.Is(err, ErrPermission))
	}
}

func TestParseCPUList(t *testing.T) {
	good := map[string]int{"0": 1, "0-1": 2, "0-3,8": 9, "0,2-5\n": 6, "7": 8}
	for in, want := range good {
		if got, err := ParseCPUList(in); err != nil || got != want {
			t.Errorf("ParseCPUList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "3-1", "-1", "1-", "1,,2"} {
		if got, err := ParseCPUList(in); err == nil {
			t.Errorf("ParseCPUList(%q) = %d, want error", in, got)
		}
	}
}

func TestPossibleCPUsCoversNumCPU(t *testing.T) {
	n, err := PossibleCPUs()
	if err != nil {
		t.Skipf("no %s: %v", PossibleCPUPath, err)
	}
	if n < runtime.NumCPU() {
		t.Fatalf("PossibleCPUs = %d < NumCPU %d", n, runtime.NumCPU())
	}
}

func TestFeaturesFromAuxv(t *testing.T) {
	f := FeaturesFromAuxv(nil)
	if f.FeatureSize != 20 || f.Align != 32 || f.FromAuxv || f.HasMMCID() || f.HasNodeID() {
		t.Errorf("defaults: %+v", f)
	}
	if f.RegisterLength() != 32 {
		t.Errorf("RegisterLength = %d", f.RegisterLength())
	}
	f = FeaturesFromAuxv([][2]uintptr{{6, 4096}, {AT_RSEQ_FEATURE_SIZE, 28}, {AT_RSEQ_ALIGN, 32}})
	if f.FeatureSize != 28 || !f.FromAuxv || !f.HasMMCID() || !f.HasNodeID() || f.RegisterLength() != 32 {
		t.Errorf("6.3+: %+v", f)
	}
	f = FeaturesFromAuxv([][2]uintptr{{AT_RSEQ_FEATURE_SIZE, 36}, {AT_RSEQ_ALIGN, 64}})
	if f.RegisterLength() != 64 {
		t.Errorf("future kernel: RegisterLength = %d, want 64", f.RegisterLength())
	}
}

func TestMembarrier(t *testing.T) {
	if !MembarrierSupportsRseq() {
		t.Skip("no MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ")
	}
	if err := MembarrierRegisterRseq(); err != nil {
		t.Fatal(err)
	}
	if err := MembarrierRseqFence(); err != nil {
		t.Fatal(err)
	}
}

func TestDetectFeatures(t *testing.T) {
	f := DetectFeatures()
	t.Logf("%v", f)
	if f.FeatureSize < OrigFeatureSize || f.Align < AreaAlign || f.RegisterLength() < AreaSize {
		t.Fatalf("implausible features %+v", f)
	}
}

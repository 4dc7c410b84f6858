//go:build cgo && linux

package libc

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqabi"
)

func onLockedThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
}

func glibcArea(info Info) *rseqabi.Area {
	a := GlibcArea()
	if uintptr(a) != ThreadPointer()+uintptr(info.RseqOffset) {
		panic("GlibcArea is not thread pointer + __rseq_offset")
	}
	return (*rseqabi.Area)(a)
}

func TestDetectGlibc(t *testing.T) {
	if !testutil.IsSubprocess() {
		testutil.RunSubprocess(t, "TestDetectGlibcDisabled", []string{"GLIBC_TUNABLES=glibc.pthread.rseq=0"}, testutil.SubprocessOptions{})
	}
	info := Detect()
	t.Logf("%+v", info)
	if !info.Cgo {
		t.Fatal("Cgo false in a cgo build")
	}
	if !info.GlibcSymbols {
		t.Skip("libc without __rseq_offset (musl or glibc < 2.35)")
	}
	if !info.GlibcRegisters() {
		t.Skipf("glibc did not register rseq here (size %d)", info.RseqSize)
	}
	onLockedThread(func() {
		a := glibcArea(info)
		cpu, node := 0, 0
		if err := getcpu(&cpu, &node); err != nil {
			t.Error(err)
		}
		if int32(a.CPUID) < 0 {
			t.Errorf("glibc area cpu_id = %d", int32(a.CPUID))
		}
		// The registration is live: re-registering glibc's area is EBUSY.
		if err := rseqabi.Register(unsafe.Pointer(a), rseqabi.AreaSize, rseqabi.Signature); !errors.Is(err, rseqabi.ErrBusy) {
			t.Errorf("Register(glibc area) = %v, want ErrBusy", err)
		}
	})
}

func TestDetectGlibcDisabled(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs in a child with GLIBC_TUNABLES=glibc.pthread.rseq=0")
	}
	info := Detect()
	t.Logf("%+v", info)
	if !info.GlibcSymbols {
		t.Skip("libc without __rseq_offset")
	}
	if info.RseqSize != 0 || info.GlibcRegisters() {
		t.Fatalf("glibc registered despite the tunable: %+v", info)
	}
	if cpu := glibcArea(info).CPUID; cpu != rseqabi.CPUIDRegistrationFailed {
		t.Errorf("glibc area cpu_id = %d, want -2", int32(cpu))
	}
}

// TestLegacyProtocol exercises the 2020 protocol on __rseq_abi where glibc
// does not register (a child with the tunable off).
func TestLegacyProtocol(t *testing.T) {
	if !testutil.IsSubprocess() {
		testutil.RunSubprocess(t, "TestLegacyProtocol", []string{"GLIBC_TUNABLES=glibc.pthread.rseq=0"}, testutil.SubprocessOptions{})
		return
	}
	if Detect().GlibcRegisters() {
		t.Skip("glibc registers: the legacy area cannot be registered")
	}
	var offsets []uintptr
	for i := 0; i < 3; i++ {
		onLockedThread(func() {
			a := (*rseqabi.Area)(LegacyArea())
			offsets = append(offsets, uintptr(LegacyArea())-ThreadPointer())
			if a.CPUID != rseqabi.CPUIDUninitialized || LegacyRefcount() != 0 {
				t.Errorf("fresh thread: cpu_id %d refcount %d", int32(a.CPUID), LegacyRefcount())
			}
			if uintptr(LegacyArea())%rseqabi.AreaAlign != 0 {
				t.Errorf("__rseq_abi at %p is not 32-byte aligned", LegacyArea())
			}
			for want := uint32(1); want <= 2; want++ {
				if err := LegacyRegister(rseqabi.AreaSize, rseqabi.Signature); err != nil {
					t.Fatalf("LegacyRegister: %v", err)
				}
				if LegacyRefcount() != want || int32(a.CPUID) < 0 {
					t.Errorf("after register %d: refcount %d cpu_id %d", want, LegacyRefcount(), int32(a.CPUID))
				}
			}
			if err := rseqabi.Register(LegacyArea(), rseqabi.AreaSize, rseqabi.Signature); !errors.Is(err, rseqabi.ErrBusy) {
				t.Errorf("area not registered with the kernel: %v", err)
			}
			if err := LegacyUnregister(rseqabi.AreaSize, rseqabi.Signature); err != nil || int32(a.CPUID) < 0 {
				t.Errorf("first unregister: %v, cpu_id %d (must stay registered)", err, int32(a.CPUID))
			}
			if err := LegacyUnregister(rseqabi.AreaSize, rseqabi.Signature); err != nil || a.CPUID != rseqabi.CPUIDUninitialized {
				t.Errorf("last unregister: %v, cpu_id %d", err, int32(a.CPUID))
			}
			if err := LegacyUnregister(rseqabi.AreaSize, rseqabi.Signature); !errors.Is(err, syscall.EINVAL) {
				t.Errorf("unregister without reference: %v, want EINVAL", err)
			}
		})
	}
	for _, off := range offsets[1:] {
		if off != offsets[0] {
			t.Errorf("__rseq_abi offsets from the thread pointer differ between threads: %#x", offsets)
		}
	}
}

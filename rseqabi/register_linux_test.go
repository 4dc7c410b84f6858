package rseqabi

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// offHeapAreas returns n 32-byte areas 64 bytes apart in fresh anonymous
// memory (the kernel writes them; they must not be Go heap).
func offHeapAreas(t *testing.T, n int) []*Area {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	out := make([]*Area, n)
	for i := range out {
		out[i] = (*Area)(unsafe.Pointer(&mem[i*64]))
		out[i].CPUID = CPUIDUninitialized
	}
	return out
}

// TestRegisterProtocol checks the kernel behaviours the registration manager
// relies on, on a fresh locked thread: success, EBUSY for the same area,
// EINVAL for another, EPERM for a wrong signature, and unregistration.
func TestRegisterProtocol(t *testing.T) {
	onFreshThread(t, func() string {
		areas := offHeapAreas(t, 2)
		a, b := unsafe.Pointer(areas[0]), unsafe.Pointer(areas[1])
		length := DetectFeatures().RegisterLength()
		err := Register(a, length, Signature)
		switch {
		case errors.Is(err, ErrNotSupported):
			return "no rseq here: " + err.Error()
		case errors.Is(err, ErrInvalid):
			return "thread already has a foreign registration (cgo + glibc?): " + err.Error()
		case err != nil:
			t.Errorf("Register: %v", err)
			return ""
		}
		if cpu := areas[0].CPUID; int32(cpu) < 0 {
			t.Errorf("cpu_id after registration = %d", int32(cpu))
		}
		if err := Register(a, length, Signature); !errors.Is(err, ErrBusy) {
			t.Errorf("second Register of the same area: %v, want ErrBusy", err)
		}
		if err := Register(b, length, Signature); !errors.Is(err, ErrInvalid) {
			t.Errorf("Register of another area: %v, want ErrInvalid", err)
		}
		if err := Register(a, length, Signature^1); !errors.Is(err, ErrPermission) {
			t.Errorf("Register with another signature: %v, want ErrPermission", err)
		}
		if err := Unregister(a, length, Signature); err != nil {
			t.Errorf("Unregister: %v", err)
		}
		if err := Unregister(a, length, Signature); !errors.Is(err, ErrInvalid) {
			t.Errorf("Unregister twice: %v, want ErrInvalid", err)
		}
		if err := Register(b, length, Signature); err != nil {
			t.Errorf("Register after Unregister: %v", err)
		}
		if err := Unregister(b, length, Signature); err != nil {
			t.Errorf("Unregister b: %v", err)
		}
		return ""
	})
}

// onFreshThread runs f on a goroutine locked to its own thread; the thread
// exits with the goroutine, so no registration outlives the test. f returns
// a reason to skip, or "".
func onFreshThread(t *testing.T, f func() string) {
	t.Helper()
	skip := make(chan string)
	go func() {
		runtime.LockOSThread()
		skip <- f()
	}()
	if why := <-skip; why != "" {
		t.Skip(why)
	}
}

func TestRegisterMisaligned(t *testing.T) {
	onFreshThread(t, func() string {
		areas := offHeapAreas(t, 1)
		p := unsafe.Add(unsafe.Pointer(areas[0]), 8)
		if err := Register(p, AreaSize, Signature); err == nil {
			t.Errorf("misaligned Register succeeded")
			Unregister(p, AreaSize, Signature)
		} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotSupported) {
			t.Errorf("misaligned Register: %v, want ErrInvalid", err)
		}
		return ""
	})
}

//go:build linux

package rseqop

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
)

// TestGlibcSignatureCheck: ModeLibc accepts glibc's registration only if
// re-registering it with our signature gives EBUSY. Where glibc registers,
// its area passes; elsewhere an area registered on a fresh thread with
// another signature must be refused (EPERM: the process would be ModeNone)
// and one registered with ours accepted.
func TestGlibcSignatureCheck(t *testing.T) {
	skipIfNone(t)
	if proc.mode == ModeLibc {
		th := Pin()
		defer th.Unpin()
		if err := checkGlibcSignature(unsafe.Pointer(th.Area()), proc.features.RegisterLength(), proc.libc.RseqSize); err != nil {
			t.Fatalf("glibc's own registration refused: %v", err)
		}
		return
	}
	mem, err := mmapAnon(4096)
	if err != nil {
		t.Fatal(err)
	}
	area := unsafe.Pointer(&mem[0])
	for _, tc := range []struct {
		sig  uint32
		want string // "" = accepted
	}{{0x12345678, "another signature"}, {rseqabi.Signature, ""}} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // never unlocked: the thread (with its registration) exits with the goroutine
			if err := Release(); err != nil {
				t.Errorf("Release: %v", err)
				return
			}
			clear(mem)
			(*rseqabi.Area)(area).CPUID = rseqabi.CPUIDUninitialized
			if err := rseqabi.Register(area, rseqabi.AreaSize, tc.sig); err != nil {
				t.Errorf("register with %#x: %v", tc.sig, err)
				return
			}
			err := checkGlibcSignature(area, proc.features.RegisterLength(), 20)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("signature %#x: refused: %v", tc.sig, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("signature %#x: got %v, want an error about %q", tc.sig, err, tc.want)
			}
			if err := rseqabi.Unregister(area, rseqabi.AreaSize, tc.sig); err != nil {
				t.Errorf("unregister: %v", err)
			}
		}()
		<-done
	}
}

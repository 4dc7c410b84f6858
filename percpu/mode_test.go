//go:build linux

package percpu

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqabi"
)

// TestUnavailableChild runs in a child whose rseq(2) fails from its first
// instruction: the process must choose ModeNone (or, with cgo, find glibc's
// failed registration) and every structure must stay exact.
func TestUnavailableChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs in a child under a seccomp filter (TestUnavailable)")
	}
	s := Status()
	t.Logf("%v", s)
	if s.FastPath || s.Mode != ModeNone {
		t.Fatalf("fast path %v, mode %v under a filter that rejects rseq", s.FastPath, s.Mode)
	}
	if s.Reason == "" {
		t.Fatal("no reason reported")
	}
	th := Pin()
	if th.Err() == nil || !errors.Is(th.Err(), ErrUnavailable) {
		t.Errorf("Pin: Err = %v, want ErrUnavailable", th.Err())
	}
	if cpu := th.CPU(); cpu < 0 {
		t.Errorf("CPU() = %d without rseq (getcpu fallback)", cpu)
	}
	th.Unpin()
	checkStructuresExact(t)
}

func TestUnavailable(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("parent only")
	}
	for _, sc := range []testutil.Seccomp{testutil.RseqENOSYS, testutil.RseqEPERM} {
		t.Run(sc.String(), func(t *testing.T) {
			r := testutil.RunSubprocess(t, "TestUnavailableChild", nil, testutil.SubprocessOptions{Seccomp: sc})
			want := map[testutil.Seccomp]string{testutil.RseqENOSYS: "not supported", testutil.RseqEPERM: "seccomp"}[sc]
			if haveAsm && !strings.Contains(r.Output, want) {
				t.Errorf("child's reason does not mention %q:\n%s", want, r.Output)
			}
		})
	}
}

// TestTasksetChild runs restricted to CPU 1, where cpu_id (1) is not below
// runtime.NumCPU (1): slots must be sized by the possible CPUs.
func TestTasksetChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs in a child under CPU affinity (TestTaskset)")
	}
	if runtime.NumCPU() != 1 {
		t.Fatalf("NumCPU %d in the child, want 1", runtime.NumCPU())
	}
	th := Pin()
	cpu := th.CPU()
	th.Unpin()
	if cpu != 1 {
		t.Fatalf("on CPU %d, want 1", cpu)
	}
	if proc.slots < 2 {
		t.Fatalf("%d slots: sized by NumCPU, not the possible CPUs", proc.slots)
	}
	checkStructuresExact(t)
}

func TestTaskset(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("parent only")
	}
	if n, _ := rseqabi.PossibleCPUs(); n < 2 || len(testutil.AllowedCPUs()) < 2 {
		t.Skip("needs CPU 1")
	}
	testutil.RunSubprocess(t, "TestTasksetChild", nil, testutil.SubprocessOptions{CPUs: []int{1}})
}

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
		if err := checkGlibcSignature(unsafe.Pointer(th.Area()), proc.regLen, proc.libc.RseqSize); err != nil {
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
			err := checkGlibcSignature(area, proc.regLen, 20)
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

//go:build cgo && linux

package legacyc

import (
	"runtime"
	"syscall"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/percpu"
	"github.com/gorseq/rseq/rseqop"
)

// inChildWithoutGlibcRseq re-runs the test in a child where glibc does not
// register rseq, so the legacy protocol is what the process uses; it
// reports whether the caller is that child.
func inChildWithoutGlibcRseq(t *testing.T) bool {
	t.Helper()
	if testutil.IsSubprocess() {
		return true
	}
	testutil.RunSubprocess(t, t.Name(), []string{"GLIBC_TUNABLES=glibc.pthread.rseq=0"}, testutil.SubprocessOptions{})
	return false
}

// onFreshLockedThread runs f locked to a thread that holds no rseq
// registration: the thread may have run percpu before (registrations persist),
// so Go's reference is released first.
func onFreshLockedThread(t *testing.T, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := rseqop.Release(); err != nil {
			t.Errorf("Release: %v", err)
		}
		if Refcount() != 0 || CPUID() != -1 {
			t.Errorf("thread not fresh after Release: refcount %d cpu_id %d", Refcount(), CPUID())
			return
		}
		f()
	}()
	<-done
}

// TestCFirstThenGo: C registers first, Go uses percpu on the same thread and
// releases; C's registration must be intact, live and counted as before.
func TestCFirstThenGo(t *testing.T) {
	if !inChildWithoutGlibcRseq(t) {
		return
	}
	if s := percpu.Status(); s.Mode != rseqop.ModeShared {
		t.Fatalf("mode %v, want shared (%s)", s.Mode, s.Reason)
	}
	onFreshLockedThread(t, func() {
		if err := Register(); err != nil {
			t.Fatalf("C register: %v", err)
		}
		if CPUID() < 0 || Refcount() != 1 {
			t.Fatalf("after C register: cpu_id %d refcount %d", CPUID(), Refcount())
		}
		th := rseqop.Pin()
		if th.Err() != nil {
			t.Fatalf("Pin: %v", th.Err())
		}
		if th.Area() == nil || uintptr(Area()) != uintptr(unsafeAreaPtr(th)) {
			t.Errorf("Go uses area %p, C uses %p: not shared", th.Area(), Area())
		}
		if Refcount() != 2 {
			t.Errorf("refcount with Go's reference = %d, want 2", Refcount())
		}
		var c percpu.Counter
		for i := 0; i < 1000; i++ {
			c.Inc()
		}
		if c.Load() != 1000 {
			t.Errorf("counter = %d", c.Load())
		}
		th.Unpin()
		if err := rseqop.Release(); err != nil {
			t.Errorf("Release: %v", err)
		}
		if Refcount() != 1 {
			t.Errorf("refcount after Go released = %d, want C's 1", Refcount())
		}
		if CPUID() < 0 || int(CPUID()) != currentCPU() {
			t.Errorf("C's area after Go released: cpu_id %d, getcpu %d", CPUID(), currentCPU())
		}
		if e := ReregisterErrno(); e != syscall.EBUSY {
			t.Errorf("C's area is no longer registered with the kernel (re-register: %v)", e)
		}
		if err := Unregister(); err != nil || CPUID() != -1 {
			t.Errorf("C unregister: %v, cpu_id %d", err, CPUID())
		}
	})
}

// TestGoFirstThenC: Go registers first; C joins and leaves; Go's
// registration survives C's unregister.
func TestGoFirstThenC(t *testing.T) {
	if !inChildWithoutGlibcRseq(t) {
		return
	}
	onFreshLockedThread(t, func() {
		th := rseqop.Pin()
		if th.Err() != nil {
			t.Fatalf("Pin: %v", th.Err())
		}
		if Refcount() != 1 || CPUID() < 0 {
			t.Fatalf("after Go registered: refcount %d cpu_id %d", Refcount(), CPUID())
		}
		if err := Register(); err != nil || Refcount() != 2 {
			t.Fatalf("C register: %v refcount %d", err, Refcount())
		}
		if err := Unregister(); err != nil || Refcount() != 1 || CPUID() < 0 {
			t.Fatalf("C unregister: %v refcount %d cpu_id %d", err, Refcount(), CPUID())
		}
		th.Unpin()
		if err := rseqop.Release(); err != nil {
			t.Errorf("Release: %v", err)
		}
		if Refcount() != 0 || CPUID() != -1 {
			t.Errorf("after the last reference: refcount %d cpu_id %d, want 0, -1", Refcount(), CPUID())
		}
	})
}

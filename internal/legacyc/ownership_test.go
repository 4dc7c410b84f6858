//go:build cgo && linux

package legacyc

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/percpu"
	"github.com/gorseq/rseq/rseqop"
)

// foreignSignature is what a C library built with another signature
// registers with (issue 11: 0x12345678).
const foreignSignature = 0x12345678

// TestForeignSignature: a C library of the legacy protocol registered the
// thread's __rseq_abi with another signature. The library must not run a
// critical section there: the kernel would check the other signature at the
// first abort and kill the process with SIGSEGV ("Unexpected rseq
// signature"), which is what happened before the check. A signal storm on
// the thread makes aborts certain; the counter must stay exact on the
// fallback, the thread be reported stray, and the C library's reference
// untouched.
func TestForeignSignature(t *testing.T) {
	if !inChildWithoutGlibcRseq(t) {
		return
	}
	if s := percpu.Status(); s.Mode != rseqop.ModeShared || !s.FastPath {
		t.Fatalf("mode %v fast path %v, want shared with the fast path (%s)", s.Mode, s.FastPath, s.Reason)
	}
	UseSignature(foreignSignature)
	defer UseSignature(DefaultSignature)
	onFreshLockedThread(t, func() {
		if err := Register(); err != nil || CPUID() < 0 || Refcount() != 1 {
			t.Fatalf("C register with signature %#x: %v (cpu_id %d, refcount %d)", uint32(foreignSignature), err, CPUID(), Refcount())
		}
		tid := testutil.CurrentTID()
		storm := testutil.StartSignalStorm(t, testutil.SignalStormOptions{TIDs: func() []int { return []int{tid} }})
		var c percpu.Counter
		const n = 300_000
		deadline := time.Now().Add(200 * time.Millisecond)
		added := 0
		for added < n || time.Now().Before(deadline) {
			c.Add(1)
			added++
		}
		stats, err := storm.Stop()
		if err != nil {
			t.Error(err)
		}
		if stats.Sent == 0 {
			t.Fatal("the signal storm sent nothing")
		}
		t.Logf("%d adds under %d signals", added, stats.Sent)
		if got := c.Load(); got != int64(added) {
			t.Errorf("counter = %d, want %d", got, added)
		}
		th := rseqop.Pin()
		if err := th.Err(); err == nil || !strings.Contains(err.Error(), "signature") {
			t.Errorf("Pin on the foreign thread: Err = %v, want a signature mismatch", err)
		}
		th.Unpin()
		if s := percpu.Status(); s.StrayThreads < 1 {
			t.Errorf("Status().StrayThreads = %d, want this thread counted", s.StrayThreads)
		}
		found := false
		for _, ti := range rseqop.Threads() {
			if ti.TID == tid {
				found = true
				if ti.Registered || ti.Err == nil {
					t.Errorf("Threads() lists thread %d as %+v, want stray", tid, ti)
				}
			}
		}
		if !found {
			t.Errorf("Threads() does not list the stray thread %d", tid)
		}
		if Refcount() != 1 || CPUID() < 0 {
			t.Errorf("C's registration after Go ran: refcount %d cpu_id %d, want 1 and live", Refcount(), CPUID())
		}
		if e := ReregisterErrno(); e != syscall.EBUSY {
			t.Errorf("C's area is no longer registered with its signature (re-register: %v)", e)
		}
		// Once the C library leaves, the thread is Go's to register.
		if err := Unregister(); err != nil || CPUID() != -1 {
			t.Fatalf("C unregister: %v, cpu_id %d", err, CPUID())
		}
		if err := rseqop.Release(); err != nil {
			t.Errorf("Release of the stray thread: %v", err)
		}
		th = rseqop.Pin()
		if th.Err() != nil || Refcount() != 1 {
			t.Errorf("Pin after C left: %v (refcount %d)", th.Err(), Refcount())
		}
		th.Unpin()
		if err := rseqop.Release(); err != nil || Refcount() != 0 {
			t.Errorf("Release: %v (refcount %d)", err, Refcount())
		}
	})
}

// TestThreadIDAndStackReuse: C thread 1 calls into Go, which registers it
// and keeps its state; the thread exits. C thread 2 gets the same thread id
// (chosen through ns_last_pid in a PID namespace of the child's own) and
// the same cached stack, hence the same __rseq_abi address; it registers
// through the legacy protocol, then Go adds to a counter and releases. Go
// must have taken a reference of its own on thread 2 and dropped only that:
// before the fix it adopted thread 1's state (same id, same area, a nonzero
// refcount) and Release dropped the C library's reference, unregistering
// its area.
func TestThreadIDAndStackReuse(t *testing.T) {
	if !testutil.IsSubprocess() {
		testutil.RunSubprocess(t, t.Name(), []string{"GLIBC_TUNABLES=glibc.pthread.rseq=0"}, testutil.SubprocessOptions{NewPIDNamespace: true})
		return
	}
	if s := percpu.Status(); s.Mode != rseqop.ModeShared || !s.FastPath {
		t.Fatalf("mode %v fast path %v, want shared with the fast path (%s)", s.Mode, s.FastPath, s.Reason)
	}
	var c percpu.Counter
	type seen struct {
		tid  int
		area uintptr
	}
	var first seen
	if err := RunCThread(func() {
		first = seen{testutil.CurrentTID(), uintptr(Area())}
		c.Add(1) // Go registers the thread and keeps its reference
		if Refcount() != 1 || CPUID() < 0 {
			t.Errorf("thread 1 after Go's add: refcount %d cpu_id %d", Refcount(), CPUID()) // Errorf is safe from any goroutine
		}
	}, 0); err != nil {
		t.Fatal(err)
	}
	const attempts = 20
	for i := range attempts {
		var again seen
		var errs []string
		if err := RunCThread(func() {
			again = seen{testutil.CurrentTID(), uintptr(Area())}
			if again != first {
				return
			}
			// No t.Fatal here: this is a cgo callback on a C thread.
			if err := Register(); err != nil || Refcount() != 1 || CPUID() < 0 {
				errs = append(errs, fmt.Sprintf("C register: %v (refcount %d, cpu_id %d)", err, Refcount(), CPUID()))
				return
			}
			c.Add(1)
			if Refcount() != 2 {
				errs = append(errs, fmt.Sprintf("Go did not take a reference of its own: refcount %d, want 2", Refcount()))
			}
			if err := rseqop.Release(); err != nil {
				errs = append(errs, "Release: "+err.Error())
			}
			if Refcount() != 1 || CPUID() < 0 {
				errs = append(errs, fmt.Sprintf("after Go's Release: refcount %d cpu_id %d, want C's 1 reference and a live area", Refcount(), CPUID()))
			}
			if e := ReregisterErrno(); e != syscall.EBUSY {
				errs = append(errs, fmt.Sprintf("C's area is no longer registered (re-register: %v)", e))
			}
			if err := Unregister(); err != nil {
				errs = append(errs, "C unregister: "+err.Error())
			}
		}, first.tid); err != nil {
			t.Fatalf("RunCThread with thread id %d: %v", first.tid, err)
		}
		if again != first {
			t.Logf("attempt %d: thread %d at %#x, not %d at %#x: again", i+1, again.tid, again.area, first.tid, first.area)
			continue
		}
		t.Logf("thread id %d and __rseq_abi %#x repeated (attempt %d)", first.tid, first.area, i+1)
		for _, e := range errs {
			t.Error(e)
		}
		if got := c.Load(); got != 2 {
			t.Errorf("counter = %d, want 2", got)
		}
		for _, ti := range rseqop.Threads() {
			if ti.TID == first.tid {
				t.Errorf("Threads() still lists exited thread %d: %+v", ti.TID, ti)
			}
		}
		return
	}
	t.Fatalf("in %d attempts no C thread got thread id %d and __rseq_abi %#x again: the reuse was not exercised", attempts, first.tid, first.area)
}

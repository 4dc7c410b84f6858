//go:build linux

package rseqop

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqabi"
)

func TestStatus(t *testing.T) {
	s := Status()
	t.Logf("%v", s)
	if s.Slots < runtime.NumCPU() {
		t.Errorf("Slots %d < NumCPU %d", s.Slots, runtime.NumCPU())
	}
	want := ModeSelf
	switch {
	case !haveAsm:
		want = ModeNone
	case s.Libc.GlibcRegisters():
		want = ModeLibc
	case s.Libc.Cgo:
		want = ModeShared
	}
	if s.Mode != want && s.Mode != ModeNone {
		t.Errorf("mode %v, want %v", s.Mode, want)
	}
	if s.Mode == ModeNone && s.Reason == "" {
		t.Error("ModeNone without a reason")
	}
	if expect := os.Getenv("GORSEQ_EXPECT_MODE"); expect != "" {
		// The make targets and VM legs name the mode they must get; where
		// it is not "none" the generated critical sections must run too
		// (a Go release that moved a runtime internal turns them off
		// quietly, with a Reason), and Counter's rseq fence must work.
		if s.Mode.String() != expect {
			t.Errorf("mode %v, GORSEQ_EXPECT_MODE=%s", s.Mode, expect)
		}
		if expect != "none" && !s.FastPath {
			t.Errorf("fast path off (%s), GORSEQ_EXPECT_MODE=%s expects it on", s.Reason, expect)
		}
		if expect != "none" && s.FenceErr != nil {
			t.Errorf("no rseq fence (%v): Counter runs on its fallback, GORSEQ_EXPECT_MODE=%s expects rseq", s.FenceErr, expect)
		}
	}
}

func skipIfNone(t *testing.T) {
	t.Helper()
	if proc.mode == ModeNone {
		t.Skipf("rseq unavailable: %s", proc.reason)
	}
}

func TestPinReadsCPU(t *testing.T) {
	th := Pin()
	defer th.Unpin()
	cpu, node := getcpu()
	if got := th.CPU(); got != cpu && got < 0 {
		t.Errorf("CPU() = %d, getcpu = %d", got, cpu)
	}
	if proc.mode == ModeNone {
		if th.Err() == nil {
			t.Error("Pin in ModeNone without Err")
		}
		return
	}
	if th.Err() != nil {
		t.Fatal(th.Err())
	}
	if th.Area() == nil || currentArea() != (unsafeArea(th.Area())) {
		t.Errorf("Area %p, ops would use %p", th.Area(), currentArea())
	}
	if proc.features.HasNodeID() && th.NodeID() != node {
		t.Errorf("NodeID %d, getcpu node %d", th.NodeID(), node)
	}
	if proc.features.HasMMCID() {
		if id := th.MMCID(); id < 0 || id >= proc.slots {
			t.Errorf("MMCID %d outside [0,%d)", id, proc.slots)
		}
	} else if th.MMCID() != -1 {
		t.Errorf("MMCID %d without kernel support", th.MMCID())
	}
}

// TestThreadReusedByAnotherGoroutine: a goroutine registers, unlocks, and a
// later goroutine on the same thread must find the registration (registering
// a new area there would fail with EINVAL: the bug of an earlier attempt).
//
// The reuse is made to happen: with GOMAXPROCS(1), goroutine A pins and
// unpins on its thread, starts B (which goes to A's P's runnext slot) and
// parks on a channel, so A's thread runs B next. B checks by tid that it runs
// on A's thread and retries (a bounded number of times) only if the runtime
// moved it anyway; the test fails if it never did.
func TestThreadReusedByAnotherGoroutine(t *testing.T) {
	skipIfNone(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	type pinned struct {
		tid  int
		area *rseqabi.Area
		err  error
	}
	pin := func() pinned {
		th := Pin()
		defer th.Unpin()
		return pinned{gettid(), th.Area(), th.Err()}
	}
	const attempts = 100
	for i := range attempts {
		res := make(chan [2]pinned)
		go func() { // A
			a := pin()
			got := make(chan pinned)
			go func() { got <- pin() }() // B
			res <- [2]pinned{a, <-got}
		}()
		r := <-res
		a, b := r[0], r[1]
		if a.err != nil || b.err != nil {
			t.Fatalf("Pin: %v / %v", a.err, b.err)
		}
		if a.tid != b.tid {
			continue // B ran elsewhere: try again
		}
		if a.area == nil || a.area != b.area {
			t.Errorf("thread %d: second goroutine uses area %p, first used %p", a.tid, b.area, a.area)
		}
		t.Logf("goroutines A and B both ran on thread %d (attempt %d)", a.tid, i+1)
		return
	}
	t.Fatalf("in %d attempts B never ran on A's thread: the reuse was not exercised", attempts)
}

func TestReleaseAndReregister(t *testing.T) {
	skipIfNone(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // thread exits with the goroutine
		th := Pin()
		if th.Err() != nil {
			t.Error(th.Err())
			return
		}
		area := th.Area()
		if err := Release(); proc.mode != ModeLibc && !errors.Is(err, ErrPinned) {
			t.Errorf("Release while pinned = %v, want ErrPinned", err)
		} else if proc.mode == ModeLibc && err != nil {
			t.Errorf("Release in ModeLibc = %v, want nil (nothing of ours to release)", err)
		}
		if int32(area.CPUID) < 0 {
			t.Error("released while pinned")
		}
		th.Unpin() // last reference
		switch proc.mode {
		case ModeSelf, ModeShared:
			if area.CPUID != rseqabi.CPUIDUninitialized {
				t.Errorf("after the last Unpin cpu_id = %d, want unregistered", int32(area.CPUID))
			}
		case ModeLibc:
			if int32(area.CPUID) < 0 {
				t.Error("glibc's registration was undone")
			}
		}
		th = Pin() // registers again
		if th.Err() != nil || int32(th.Area().CPUID) < 0 {
			t.Errorf("re-register: %v", th.Err())
		}
		th.Unpin()
		if err := Release(); err != nil {
			t.Errorf("Release: %v", err)
		}
		if err := Release(); err != nil {
			t.Errorf("second Release: %v", err)
		}
	}()
	<-done
}

// TestThreadsExitWhileRegistered: goroutines that exit locked take their
// registered threads with them; the library must reclaim their records and
// keep working.
func TestThreadsExitWhileRegistered(t *testing.T) {
	skipIfNone(t)
	for round := 0; round < 4; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // never unlocked: the thread exits
				if !registerThisThread() && proc.fastPath {
					t.Error("registration failed")
				}
			}()
		}
		wg.Wait()
	}
	// A goroutine that exits locked has finished before its thread has:
	// the thread exits a little later (much later under TCG emulation,
	// where a 6.1 VM once still had 46 of them alive at the first look).
	// Reclaim until the dead are gone or 10 s have passed.
	bound := 2*runtime.GOMAXPROCS(0) + 20
	var n int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		threads.Lock()
		reclaimDeadLocked()
		n = len(threads.byTID)
		threads.Unlock()
		if n <= bound || time.Now().After(deadline) {
			break
		}
	}
	if n > bound {
		t.Errorf("%d thread states left 10 s after their threads exited (want at most %d)", n, bound)
	}
	th := Pin()
	defer th.Unpin()
	if th.Err() != nil {
		t.Fatal(th.Err())
	}
}

// TestThreadsAfterLockedThreadsExit (issue 11): 30 goroutines lock their
// threads, run the slow path (a registration the library keeps) and Pin
// without Unpin (a state the library keeps), then exit locked: the runtime
// ends their threads and, in cgo builds, glibc frees or reuses their stacks,
// where the areas of libc and shared mode lie. Once the threads are gone,
// Threads() must neither read those areas (a fatal fault before the fix) nor
// list the threads, and Status must not count them.
func TestThreadsAfterLockedThreadsExit(t *testing.T) {
	skipIfNone(t)
	const n = 30
	var registered atomic.Int64
	var mu sync.Mutex
	gone := make(map[int]bool)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			if SlowPath() {
				registered.Add(1)
			}
			if th := Pin(); th.Err() != nil { // never unpinned
				t.Error(th.Err())
			}
			// The runtime ends a locked thread when its goroutine exits,
			// except the main thread, which it keeps (wedged).
			if tid := gettid(); tid != os.Getpid() {
				mu.Lock()
				gone[tid] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The goroutines have finished; wait until their threads have too.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := 0
		for _, tid := range testutil.ThreadIDs() {
			if gone[tid] {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d locked threads still exist 10 s after their goroutines ended", left, len(gone))
		}
	}
	// Other threads of this process keep running and allocate stacks:
	// make glibc reuse and unmap the cached ones before looking.
	var others sync.WaitGroup
	for range n {
		others.Add(1)
		go func() {
			defer others.Done()
			runtime.LockOSThread()
			time.Sleep(time.Millisecond)
		}()
	}
	others.Wait()
	for _, ti := range Threads() {
		if gone[ti.TID] {
			t.Errorf("Threads() lists exited thread %d: %+v", ti.TID, ti)
		}
	}
	before := Status().Threads
	if before > 2*runtime.GOMAXPROCS(0)+20 {
		t.Errorf("Status().Threads = %d after %d registered threads exited", before, n)
	}
	if got := registered.Load(); got != n {
		t.Errorf("%d of %d threads registered", got, n)
	}
}

func unsafeArea(a *rseqabi.Area) unsafe.Pointer { return unsafe.Pointer(a) }

// TestManyThreads: hundreds of goroutines locked to their own threads
// register at once; every one must get a working area of its own.
func TestManyThreads(t *testing.T) {
	skipIfNone(t)
	const n = 300
	var wg, pinned sync.WaitGroup
	var mu sync.Mutex
	areas := make(map[*rseqabi.Area]int)
	start, exit := make(chan struct{}), make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		pinned.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // exits with the goroutine
			<-start
			th := Pin()
			defer th.Unpin()
			if th.Err() != nil {
				t.Error(th.Err())
			} else if cpu := th.CPU(); cpu < 0 || cpu >= proc.slots {
				t.Errorf("cpu %d outside [0,%d)", cpu, proc.slots)
			}
			mu.Lock()
			areas[th.Area()]++
			mu.Unlock()
			pinned.Done()
			<-exit // all n threads alive at once
		}()
	}
	close(start)
	pinned.Wait()
	close(exit)
	wg.Wait()
	if len(areas) != n {
		t.Errorf("%d threads shared %d areas", n, len(areas))
	}
}

// TestForkExecFromRegisteredThread: os/exec from a pinned, registered thread
// (clone with CLONE_VM|CLONE_VFORK: the child gets no registration, the
// parent's must be untouched).
func TestForkExecFromRegisteredThread(t *testing.T) {
	skipIfNone(t)
	if testutil.IsSubprocess() {
		t.Skip("parent only")
	}
	th := Pin()
	defer th.Unpin()
	if th.Err() != nil {
		t.Fatal(th.Err())
	}
	for i := 0; i < 5; i++ {
		r := testutil.RunSubprocess(t, "TestStatus", nil, testutil.SubprocessOptions{})
		if r.ExitCode != 0 {
			t.Fatalf("child: %s", r.Output)
		}
		cpu, _ := getcpu()
		if got := th.CPU(); got != cpu {
			t.Fatalf("after fork/exec: area cpu_id %d, getcpu %d", got, cpu)
		}
	}
	if proc.mode == ModeSelf {
		err := rseqabi.Register(unsafe.Pointer(th.Area()), rseqabi.AreaSize, rseqabi.Signature)
		if !errors.Is(err, rseqabi.ErrBusy) {
			t.Fatalf("registration lost across fork/exec: re-register = %v", err)
		}
	}
}

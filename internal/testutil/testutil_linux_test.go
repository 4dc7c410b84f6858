package testutil_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gorseq/rseq/internal/testutil"
)

// rseqSignature is the abort signature the kernel checks on this arch.
var rseqSignature = map[string]uint32{"amd64": 0x53053053, "arm64": 0xd428bc00}[runtime.GOARCH]

// tryRseq registers and unregisters a fresh 32-byte aligned off-heap area on
// the calling (locked) thread with a raw rseq(2) and returns the errno of the
// registration (0: it worked; the area's cpu_id was live).
func tryRseq(t *testing.T) syscall.Errno {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem) //nolint:errcheck
	area := unsafe.Pointer(&mem[0])
	cpuID := (*uint32)(unsafe.Add(area, 4))
	*cpuID = 0xffffffff
	_, _, e := unix.RawSyscall6(unix.SYS_RSEQ, uintptr(area), 32, 0, uintptr(rseqSignature), 0, 0)
	if e != 0 {
		return e
	}
	unix.Getpid() // return to user space once more
	if int32(*cpuID) < 0 {
		t.Errorf("registered, but cpu_id = %d", int32(*cpuID))
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RSEQ, uintptr(area), 32, 1 /* RSEQ_FLAG_UNREGISTER */, uintptr(rseqSignature), 0, 0); e != 0 {
		t.Fatalf("unregister: %v", e)
	}
	return 0
}

func TestRseqWithoutFilter(t *testing.T) {
	switch e := tryRseq(t); e {
	case 0:
	case unix.ENOSYS:
		t.Skip("rseq is not available here (qemu-user?)")
	case unix.EINVAL, unix.EBUSY:
		// glibc registered this thread already (cgo or -race build).
		t.Skipf("rseq: %v: this thread already has an area (glibc?)", e)
	default:
		t.Fatalf("rseq: %v", e)
	}
}

// TestSeccompChild is the body the seccomp subprocesses run.
func TestSeccompChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs only as a subprocess of TestSeccompRseq")
	}
	want, _ := strconv.Atoi(os.Getenv("WANT_ERRNO"))
	if got := testutil.SeccompMode(); got != 2 {
		t.Errorf("Seccomp mode of this thread = %d, want 2 (filter)", got)
	}
	// On several threads: threads created before and after the filter.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if e := tryRseq(t); e != syscall.Errno(want) {
				t.Errorf("rseq = %v (%d), want %v", e, int(e), syscall.Errno(want))
			}
		})
	}
	wg.Wait()
	if os.Getenv("GORSEQ_TESTUTIL_SECCOMP_STAGE") == "exec-done" {
		t.Log("running in the re-executed image")
	}
}

func TestSeccompRseq(t *testing.T) {
	probe := tryRseq(t)
	if probe == unix.ENOSYS {
		t.Skip("rseq is not available here at all")
	}
	// EINVAL/EBUSY: glibc registered this thread (cgo or -race build).
	glibcRegisters := (probe == unix.EINVAL || probe == unix.EBUSY) && !strings.Contains(os.Getenv("GLIBC_TUNABLES"), "glibc.pthread.rseq=0")
	for _, c := range []struct {
		s     testutil.Seccomp
		errno syscall.Errno
	}{{testutil.RseqENOSYS, unix.ENOSYS}, {testutil.RseqEPERM, unix.EPERM}} {
		for _, inPlace := range []bool{false, true} {
			name := c.s.String() + "/exec"
			if inPlace {
				name = c.s.String() + "/inplace"
			}
			t.Run(name, func(t *testing.T) {
				if inPlace && glibcRegisters {
					t.Skip("glibc registers threads here: after an in-place filter its next pthread_create aborts the process")
				}
				res := testutil.RunSubprocess(t, "TestSeccompChild",
					[]string{"WANT_ERRNO=" + strconv.Itoa(int(c.errno))},
					testutil.SubprocessOptions{Seccomp: c.s, SeccompInPlace: inPlace})
				if got := strings.Contains(res.Output, "running in the re-executed image"); got == inPlace {
					t.Errorf("child re-executed = %v, want %v:\n%s", got, !inPlace, res.Output)
				}
			})
		}
	}
}

// TestAffinityChild is the body TestSubprocessAffinity runs.
func TestAffinityChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs only as a subprocess of TestSubprocessAffinity")
	}
	want, _ := strconv.Atoi(os.Getenv("WANT_CPU"))
	if got := testutil.AllowedCPUs(); !slices.Equal(got, []int{want}) {
		t.Errorf("affinity = %v, want [%d]", got, want)
	}
	if n := runtime.NumCPU(); n != 1 {
		t.Errorf("runtime.NumCPU() = %d, want 1", n)
	}
	for _, tid := range testutil.ThreadIDs() {
		if got, err := testutil.ThreadCPUs(tid); err == nil && !slices.Equal(got, []int{want}) {
			t.Errorf("thread %d affinity = %v, want [%d]", tid, got, want)
		}
	}
	if c := testutil.GetCPU(); c != want && c != -1 {
		t.Errorf("getcpu = %d, want %d", c, want)
	}
}

func TestSubprocessAffinity(t *testing.T) {
	cpus := testutil.AllowedCPUs()
	cpu := cpus[len(cpus)-1]
	testutil.RunSubprocess(t, "TestAffinityChild", []string{"WANT_CPU=" + strconv.Itoa(cpu)},
		testutil.SubprocessOptions{CPUs: []int{cpu}})
	if got := testutil.AllowedCPUs(); !slices.Equal(got, cpus) {
		t.Errorf("parent affinity changed: %v, was %v", got, cpus)
	}
}

func TestRunSubprocessEnv(t *testing.T) {
	if testutil.IsSubprocess() {
		if os.Getenv("EXTRA") != "yes" {
			t.Fatal("EXTRA not passed")
		}
		return
	}
	testutil.RunSubprocess(t, "TestRunSubprocessEnv", []string{"EXTRA=yes"}, testutil.SubprocessOptions{})
	res := testutil.RunSubprocess(t, "TestRunSubprocessEnv", nil, testutil.SubprocessOptions{AllowFailure: true})
	if res.ExitCode == 0 {
		t.Errorf("child without EXTRA passed:\n%s", res.Output)
	}
}

// spinner locks a goroutine to its thread, publishes the thread id and
// records the CPUs it runs on until stop is closed.
func spinner(t *testing.T, tids *testutil.TIDSet, stop <-chan struct{}) (seen func() []int, tid func() int) {
	var mu sync.Mutex
	var cpus []int
	tidc := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- tids.AddCurrent()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c := testutil.GetCPU(); c >= 0 {
				mu.Lock()
				if !slices.Contains(cpus, c) {
					cpus = append(cpus, c)
				}
				mu.Unlock()
			}
		}
	}()
	id := <-tidc
	t.Cleanup(func() { <-done })
	return func() []int {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(cpus)
		}, func() int {
			return id
		}
}

func needCPUs(t *testing.T, n int) []int {
	cpus := testutil.AllowedCPUs()
	if len(cpus) < n {
		t.Skipf("needs %d CPUs, have %v", n, cpus)
	}
	if testutil.GetCPU() < 0 {
		t.Skip("getcpu does not work here")
	}
	return cpus
}

func TestMigrationStormWorkers(t *testing.T) {
	needCPUs(t, 2)
	var mu sync.Mutex
	seen := map[int]map[int]bool{}
	s := testutil.StartMigrationStorm(t, testutil.MigrationOptions{
		Workers: 2,
		Work: func(w int) {
			c := testutil.GetCPU()
			mu.Lock()
			if seen[w] == nil {
				seen[w] = map[int]bool{}
			}
			seen[w][c] = true
			mu.Unlock()
		},
	})
	// Run until both workers have been seen on two CPUs (under TCG a
	// fixed 100 ms gave the storm only 3 moves, all before worker 0's
	// Work calls), or give up after a deadline and report.
	movedBoth := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen[0]) >= 2 && len(seen[1]) >= 2
	}
	for deadline := time.Now().Add(20 * time.Second); !movedBoth() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	st, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	mu.Lock()
	defer mu.Unlock()
	for w := range 2 {
		if len(seen[w]) < 2 {
			t.Errorf("worker %d ran only on CPUs %v", w, seen[w])
		}
	}
	if got := testutil.AllowedCPUs(); len(got) < 2 {
		t.Errorf("calling thread's affinity is now %v", got)
	}
}

func TestMigrationStormOtherThreads(t *testing.T) {
	cpus := needCPUs(t, 2)
	var tids testutil.TIDSet
	stop := make(chan struct{})
	seen, tid := spinner(t, &tids, stop)
	defer close(stop)
	s := testutil.StartMigrationStorm(t, testutil.MigrationOptions{TIDs: tids.Snapshot, Interval: time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for len(seen()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v, spinner saw CPUs %v", st, seen())
	if len(seen()) < 2 {
		t.Errorf("spinner thread saw only CPUs %v", seen())
	}
	if got, err := testutil.ThreadCPUs(tid()); err != nil || !slices.Equal(got, cpus) {
		t.Errorf("spinner thread's affinity after Stop = %v, %v; want %v", got, err, cpus)
	}
}

func TestSignalStorm(t *testing.T) {
	for _, c := range []struct {
		name string
		sig  syscall.Signal
	}{{"default", 0}, {"SIGUSR1", unix.SIGUSR1}} {
		sig := c.sig
		t.Run(c.name, func(t *testing.T) {
			var tids testutil.TIDSet
			stop := make(chan struct{})
			spinner(t, &tids, stop)
			defer close(stop)
			s := testutil.StartSignalStorm(t, testutil.SignalStormOptions{Signal: sig, TIDs: tids.Snapshot})
			deadline := time.Now().Add(5 * time.Second)
			for s.Stats().Delivered < 10 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			st, err := s.Stop()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", st)
			if st.Sent == 0 || st.Delivered == 0 {
				t.Errorf("storm stats %+v", st)
			}
		})
	}
}

func TestSignalStormAllThreads(t *testing.T) {
	s := testutil.StartSignalStorm(t, testutil.SignalStormOptions{Interval: time.Millisecond})
	// Wait for the storm to send (a fixed sleep can pass unscheduled under TCG).
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Sent == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if st, err := s.Stop(); err != nil || st.Sent == 0 {
		t.Fatalf("%+v, %v", st, err)
	}
}

func TestThreadIDs(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !slices.Contains(testutil.ThreadIDs(), testutil.CurrentTID()) {
		t.Errorf("ThreadIDs() = %v lacks the current thread %d", testutil.ThreadIDs(), testutil.CurrentTID())
	}
}

func TestPressure(t *testing.T) {
	before := runtime.NumGoroutine()
	orig := debug.SetGCPercent(100)
	debug.SetGCPercent(orig)
	var calls atomic.Int64
	t.Run("gcpercent", func(t *testing.T) {
		testutil.SetGCPercent(t, 1)
		if old := debug.SetGCPercent(1); old != 1 {
			t.Errorf("GC percent = %d, want 1", old)
		}
		p := testutil.StartPressure(t, testutil.PressureOptions{Spinners: 4, Allocators: 2, GC: true})
		time.Sleep(50 * time.Millisecond)
		for deadline := time.Now().Add(10 * time.Second); p.GCs() == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		p.Stop()
		calls.Store(p.GCs())
	})
	if got := debug.SetGCPercent(orig); got != orig {
		t.Errorf("GC percent after the subtest = %d, want %d restored", got, orig)
	}
	if calls.Load() == 0 {
		t.Error("GC loop never completed a cycle")
	}
	if after := runtime.NumGoroutine(); after > before+1 {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}

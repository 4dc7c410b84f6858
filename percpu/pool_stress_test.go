//go:build linux

package percpu

// The Pool model under stress: many goroutines, constant collection,
// migration, stray threads and no rseq at all.

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqop"
)

// TestPoolModel: many goroutines Get and Put unique objects; no object is
// ever held by two goroutines, none is corrupted, and after quiescence every
// object created is in the pool or was dropped.
func TestPoolModel(t *testing.T) {
	for _, cfg := range []struct{ perCPU, shared, hold int }{
		{1, 1, 1}, {4, 8, 6}, {DefaultPerCPU, 0, 3}, {8, -1, 12},
	} {
		t.Run(fmt.Sprintf("perCPU=%d,shared=%d,hold=%d", cfg.perCPU, cfg.shared, cfg.hold), func(t *testing.T) {
			p := &Pool[testObj]{PerCPU: cfg.perCPU, Shared: cfg.shared}
			tr := newTracker(t, 1<<20)
			poolWorkers(tr, p, 4*runtime.GOMAXPROCS(0)+1, poolOps(200000, 20000), cfg.hold, runtime.Gosched)
			tr.checkQuiescent(p, 0)
			t.Logf("created %d, dropped %d, pooled %d, Cap %d", tr.created.Load(), tr.dropped.Load(), len(p.storage().pooled()), p.Cap())
		})
	}
}

// TestPoolGCStress runs the model under constant garbage collection
// (GOGC=1, a goroutine calling runtime.GC back to back, allocators of
// pointerful garbage, concurrent Trims): a pooled object the collector could
// not see would be freed (its cleanup runs) and its memory reused (its
// checksum breaks), and Get would hand it out.
func TestPoolGCStress(t *testing.T) {
	testutil.SetGCPercent(t, 1)
	ops := poolOps(100000, 10000)
	if s := os.Getenv("GORSEQ_POOL_GC_OPS"); s != "" {
		ops, _ = strconv.Atoi(s)
	}
	p := &Pool[testObj]{PerCPU: 8, Shared: 16}
	tr := newTracker(t, 1<<21)
	pr := testutil.StartPressure(t, testutil.PressureOptions{GC: true, Allocators: 1})
	// Run at least ops steps per goroutine and until minGCs cycles ran
	// (or the time is up).
	minGCs := int64(poolOps(100, 20))
	deadline := time.Now().Add(10 * time.Second)
	for round := 0; round == 0 || pr.GCs() < minGCs && time.Now().Before(deadline); round++ {
		poolWorkers(tr, p, 2*runtime.GOMAXPROCS(0)+1, ops, 4, runtime.Gosched)
		tr.checkQuiescent(p, 0)
		if tr.bad.Load() > 0 {
			return
		}
	}
	// Trim concurrently with use, then keep going on fresh storage.
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; i < 20; i++ {
			p.Trim()
			time.Sleep(time.Millisecond)
		}
	})
	poolWorkers(tr, p, 2*runtime.GOMAXPROCS(0)+1, ops/4, 4, runtime.Gosched)
	bg.Wait()
	pr.Stop()
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	time.Sleep(20 * time.Millisecond)
	// Objects that Trim dropped are gone legitimately; what the pool holds
	// now must be intact and alive.
	for _, o := range p.storage().pooled() {
		if tr.freed[o.id].Load() {
			t.Errorf("pooled object %d was freed by the garbage collector", o.id)
		}
		if o.checksum() != o.sum {
			t.Errorf("pooled object %d corrupted", o.id)
		}
	}
	p.storage().checkSlots(t)
	t.Logf("%d GC cycles, %d objects created, %d freed, GODEBUG=%q", pr.GCs(), tr.created.Load(), countFreed(tr), os.Getenv("GODEBUG"))
	if pr.GCs() == 0 {
		t.Error("no GC cycle ran")
	}
}

// TestPoolGCCheckmark re-runs TestPoolGCStress in a child process with
// GODEBUG=gccheckmark=1: after every concurrent mark phase the runtime
// re-marks the heap with the world stopped and crashes if the concurrent
// phase missed a reachable object (which a pointer stored without a write
// barrier would cause).
func TestPoolGCCheckmark(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("in a child")
	}
	ops := "20000"
	if testing.Short() || raceEnabled {
		ops = "3000"
	}
	res := testutil.RunSubprocess(t, "TestPoolGCStress", []string{"GODEBUG=gccheckmark=1", "GORSEQ_POOL_GC_OPS=" + ops}, testutil.SubprocessOptions{})
	if !strings.Contains(res.Output, "--- PASS: TestPoolGCStress") || !strings.Contains(res.Output, `GODEBUG="gccheckmark=1"`) {
		t.Fatalf("child did not pass TestPoolGCStress under gccheckmark:\n%s", res.Output)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		if strings.Contains(line, "GC cycles") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestPoolMigration runs the model on worker threads that move to another
// CPU between every few operations while every other thread of the process
// has its affinity flipped and is interrupted by signals, so operations
// migrate between and inside critical sections (and between Put's two
// sections).
func TestPoolMigration(t *testing.T) {
	p := &Pool[testObj]{PerCPU: 4, Shared: 4}
	tr := newTracker(t, 1<<20)
	const workers = 4
	actors := make([]*poolActor, workers)
	for w := range actors {
		actors[w] = newPoolActor(tr, p, uint64(100+w), 3)
	}
	ms := testutil.StartMigrationStorm(t, testutil.MigrationOptions{
		Workers:  workers,
		Work:     func(w int) { actors[w].steps(16) },
		TIDs:     testutil.ThreadIDs,
		Interval: 200 * time.Microsecond,
	})
	ss := testutil.StartSignalStorm(t, testutil.SignalStormOptions{Interval: 100 * time.Microsecond})
	// Run the model at least once, and on until some pool critical section
	// was aborted (restarted by the kernel) or the time is up.
	aborts0 := poolAbortTotal()
	deadline := time.Now().Add(3 * time.Second)
	for round := 0; round == 0 || fastPathPool() && poolAbortTotal() == aborts0 && time.Now().Before(deadline); round++ {
		poolWorkers(tr, p, 4, poolOps(100000, 10000), 3, nil)
	}
	mstats, err := ms.Stop()
	if err != nil {
		t.Fatal(err)
	}
	sstats, err := ss.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actors {
		a.drain()
	}
	tr.checkQuiescent(p, 0)
	t.Logf("migrations %d (work calls %d), signals sent %d; %s", mstats.Moves, mstats.WorkCalls, sstats.Sent, poolAborts())
	if len(ms.CPUs()) > 1 && mstats.Moves == 0 {
		t.Error("no migration happened")
	}
}

// TestPoolStrayThreads runs the model in a child process whose rseq
// registrations start failing after start-up (a seccomp filter installed in
// place): threads created from then on are stray, and their Gets and Puts
// must go to the per-P and shared levels only while registered threads keep
// using their CPU's cache.
func TestPoolStrayThreads(t *testing.T) {
	if !testutil.IsSubprocess() {
		if !proc.fastPath {
			t.Skipf("fast path off: %s", proc.reason)
		}
		if proc.libc.GlibcRegisters() {
			// glibc itself aborts a thread whose registration fails
			// ("Fatal glibc error: rseq registration failed",
			// golang/go#51315), so no stray thread can exist here.
			t.Skip("glibc registers rseq: threads cannot be stray")
		}
		testutil.RunSubprocess(t, "TestPoolStrayThreads", nil,
			testutil.SubprocessOptions{Seccomp: testutil.RseqENOSYS, SeccompInPlace: true, Args: []string{"-test.short"}})
		return
	}
	if !proc.fastPath {
		t.Skipf("fast path off: %s", proc.reason)
	}
	p := &Pool[testObj]{PerCPU: 4, Shared: 8}
	tr := newTracker(t, 1<<20)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			// Locked goroutines force the runtime to start new threads,
			// which cannot register.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			a := newPoolActor(tr, p, uint64(200+w), 3)
			a.steps(20000)
			a.drain()
		})
	}
	poolWorkers(tr, p, 2, 20000, 3, nil)
	wg.Wait()
	tr.checkQuiescent(p, 0)
	stray := 0
	for _, th := range rseqop.Threads() {
		if th.Err != nil {
			stray++
		}
	}
	t.Logf("%d stray threads; %d objects created, %d dropped", stray, tr.created.Load(), tr.dropped.Load())
	if stray == 0 {
		t.Error("no stray thread ran a pool operation")
	}
}

// TestPoolWithoutRseq runs the model in a child process where rseq(2) fails
// from the first instruction (seccomp, EPERM): the pool runs on its
// fallback.
func TestPoolWithoutRseq(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("in a child")
	}
	res := testutil.RunSubprocess(t, "TestPoolModel", nil,
		testutil.SubprocessOptions{Seccomp: testutil.RseqEPERM, Args: []string{"-test.short"}})
	if !strings.Contains(res.Output, "--- PASS: TestPoolModel") {
		t.Fatalf("child:\n%s", res.Output)
	}
}

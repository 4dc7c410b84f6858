//go:build linux

package percpu

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqabi"
	"golang.org/x/sys/unix"
)

// Helpers the generated ops' tests share (ops_test.go): the status protocol
// of DESIGN.md in one place, and a stress driver that runs an op's workers
// while forcing aborts with signal storms, migrations and oversubscription.

// opDo runs one op: fast is the generated critical section (returns its
// status and keeps its results), fallback the generated portable version on
// a shard. It follows the status protocol: -1 registers the thread (or falls
// back where it cannot), -2 falls back for this call. With forceFallback
// only the fallback runs.
func opDo(limit uintptr, forceFallback bool, fast func() int, fallback func(shard uintptr) int) int {
	if !forceFallback {
		for {
			switch st := fast(); st {
			case zopStatusUnregistered:
				if slowPath() {
					continue
				}
			case zopStatusIndexRange:
			default:
				return st
			}
			break
		}
	}
	return fallback(uintptr(rand.Uint64N(uint64(limit))))
}

// opStress runs work(w, rng) in a loop from 2*GOMAXPROCS+2 goroutines, each
// locked to its own OS thread, while they signal each other (SIGURG), a
// signal storm and a migration storm (internal/testutil) hit their threads,
// two more migrating workers run work, and another thread issues rseq
// fences. Each call of work should do a short batch (microseconds). It runs
// for at least min and until the abort counter of every function in fns has
// moved (at most max), and fails the test if no function in fns aborted
// while the fast path is on: a run that never aborted proves nothing about
// the abort path (TestOpAbortRestart proves each function's separately).
func opStress(t *testing.T, fns []string, forceFallback bool, work func(w int, rng *rand.Rand)) {
	t.Helper()
	// Under -short (and in the emulated VMs, which pass it) a missing
	// abort is only logged: TestOpAbortRestart proves every abort path
	// with a tight loop, which gets aborts even where interrupts are rare.
	minDur, maxDur := 300*time.Millisecond, 20*time.Second
	if testing.Short() {
		minDur, maxDur = 100*time.Millisecond, 3*time.Second
	}
	idx := make([]int, len(fns))
	before := make([]uint64, len(fns))
	for i, fn := range fns {
		idx[i] = -1
		for j := range zopTable {
			if zopTable[j].Name == fn {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			t.Fatalf("no generated function %s", fn)
		}
		before[i] = atomic.LoadUint64(&zopAborts[idx[i]])
	}
	moved := func() bool { // every function aborted (or, at the limit, any)
		for i := range fns {
			if atomic.LoadUint64(&zopAborts[idx[i]]) == before[i] {
				return false
			}
		}
		return true
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var tids testutil.TIDSet // the locked workers: what the storms aim at
	n := 2*runtime.GOMAXPROCS(0) + 2
	pid := unix.Getpid()
	var sent atomic.Int64
	// Every worker has a thread of its own and, after each batch, signals
	// another worker's thread: the target is likely running ops on the
	// other CPU, so the signal lands in its critical sections often (a
	// separate sender would mostly hit threads parked for want of a P).
	// Half of them yield after each batch, which oversubscribes the Ps and
	// gets threads preempted.
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tid := tids.AddCurrent()
			defer tids.Remove(tid)
			for i := 0; !stop.Load(); i++ {
				work(w, rng)
				if all := tids.Snapshot(); len(all) > 1 {
					if to := all[rng.IntN(len(all))]; to != tid && unix.Tgkill(pid, to, unix.SIGURG) == nil {
						sent.Add(1)
					}
				}
				if w%2 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	const migrators = 2
	rngs := make([]*rand.Rand, migrators)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(1000+i), 7))
	}
	mig := testutil.StartMigrationStorm(t, testutil.MigrationOptions{
		Workers: migrators,
		Work: func(w int) {
			work(n+w, rngs[w])
		},
		TIDs: tids.Snapshot,
	})
	sig := testutil.StartSignalStorm(t, testutil.SignalStormOptions{TIDs: tids.Snapshot, Interval: 50 * time.Microsecond})
	// rseq fences (membarrier RSEQ) interrupt every running thread of the
	// process without a signal handler: the cheapest way to restart
	// critical sections. Only about 1% of interruptions land inside a
	// section on the project's machine, so the test needs many.
	var fences atomic.Int64
	if proc.fenceErr == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for !stop.Load() {
				if rseqabi.MembarrierRseqFence() == nil {
					fences.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for {
		time.Sleep(10 * time.Millisecond)
		el := time.Since(start)
		if el >= maxDur || (el >= minDur && (forceFallback || !opFastPath() || moved())) {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	if _, err := mig.Stop(); err != nil {
		t.Errorf("migration storm: %v", err)
	}
	sst, err := sig.Stop()
	if err != nil {
		t.Errorf("signal storm: %v", err)
	}
	var report []any
	var total uint64
	for i, fn := range fns {
		d := atomic.LoadUint64(&zopAborts[idx[i]]) - before[i]
		report = append(report, fn, d)
		total += d
	}
	// Every function's abort path is proven one by one by
	// TestOpAbortRestart; here the run must not be vacuous: at least one
	// of its sections aborted (each single-function test: that function).
	// Under -short (the emulated VMs) a run without aborts is only logged.
	if total == 0 && len(fns) > 0 && opFastPath() && !forceFallback {
		if testing.Short() {
			t.Logf("no section aborted in %v (-short: not an error; TestOpAbortRestart covers the abort paths)", time.Since(start))
		} else {
			t.Errorf("no section of %v aborted in %v: the abort path was not exercised", fns, time.Since(start))
		}
	}
	t.Logf("ran %v, fast path %v, fallback only %v, signals sent %d, rseq fences %d; aborts: %v", time.Since(start).Round(time.Millisecond), opFastPath(), forceFallback, sst.Sent+sent.Load(), fences.Load(), report)
}

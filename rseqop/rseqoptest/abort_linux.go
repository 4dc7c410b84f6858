package rseqoptest

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
	"golang.org/x/sys/unix"
)

// AbortRestart runs loop on a goroutine locked to a thread of its own,
// registered for rseq (rseqop.SlowPath), while an Interrupter interrupts
// that thread. loop must run the op in batches until enough returns true,
// then check its model and return an error if it does not hold. enough
// turns true once opts.Aborts has moved by opts.Want or opts.Max has
// passed.
//
// AbortRestart fails tb (from the calling goroutine) if the thread cannot
// be registered, if loop returns an error, or if the counter did not move:
// then the abort path is unproven. It logs what it saw and returns it.
//
// Under plain TCG emulation (qemu without one instruction per translation
// block: the environment has GORSEQ_VMTEST=tcg, as gorseq's VM harness
// sets it), an interrupt lands only between translation blocks, so an
// abort inside a short section is luck: AbortRestart then runs the loop
// for at most PlainTCGMax and checks its model, but does not require an
// abort. Run the proof with one instruction per block
// (GORSEQ_VMTEST=tcg-one-insn-per-tb), where interrupts land on any
// instruction, or on hardware.
func AbortRestart(tb testing.TB, opts Options, loop func(enough func() bool) error) Result {
	tb.Helper()
	if opts.Aborts == nil {
		tb.Fatal("rseqoptest: Options.Aborts is required")
	}
	want := max(opts.Want, 1)
	maxDur := opts.Max
	if maxDur <= 0 {
		maxDur = 60 * time.Second
	}
	plainTCG := os.Getenv(EnvVMTest) == VMTestPlainTCG
	if plainTCG {
		maxDur = min(maxDur, PlainTCGMax)
	}
	before := opts.Aborts()
	in := StartInterrupter()
	var err error
	var saidEnough bool // enough returned true: the loop ran its course
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A panicking loop fails the test like a model error, instead of
		// killing the test binary from a goroutine of its own.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("rseqoptest: the loop panicked: %v\n%s", p, debug.Stack())
			}
		}()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if !rseqop.SlowPath() {
			err = fmt.Errorf("rseqoptest: cannot register the loop's thread: %v", rseqop.Status().Reason)
			return
		}
		in.Target(unix.Gettid())
		err = loop(func() bool {
			saidEnough = opts.Aborts()-before >= want || time.Since(start) > maxDur
			return saidEnough
		})
	}()
	<-done
	r := Result{Elapsed: time.Since(start), Interrupts: in.Stop()}
	r.Aborts = opts.Aborts() - before
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("%d aborts in %v, %d interruptions", r.Aborts, r.Elapsed.Round(time.Millisecond), r.Interrupts)
	switch {
	case r.Aborts > 0:
	case plainTCG && saidEnough:
		tb.Logf("no abort in %v under plain TCG, where interrupts land only between translation blocks: not required here (the one-instruction-per-block VM legs prove the abort path)", r.Elapsed.Round(time.Millisecond))
	case !saidEnough:
		tb.Errorf("the loop returned after %v, before enough() said so (it must run the op until enough returns true): no abort, the abort path is unproven", r.Elapsed.Round(time.Millisecond))
	default:
		tb.Errorf("no abort in %v of interruptions (%d): the abort path is unproven", r.Elapsed.Round(time.Millisecond), r.Interrupts)
	}
	return r
}

// Interrupter interrupts one thread, from a thread of its own, as fast as
// it can: alternately with an rseq fence (membarrier
// MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, which restarts the critical
// section of every running thread of the process, where the kernel has it)
// and with SIGURG sent to the target thread (the Go runtime's preemption
// signal, which it ignores where it cannot preempt; its delivery aborts a
// section the thread is in).
type Interrupter struct {
	tid        atomic.Int64
	stop       atomic.Bool
	interrupts atomic.Int64
	wg         sync.WaitGroup
}

// StartInterrupter starts an Interrupter with no target: until Target is
// called it only sends fences.
func StartInterrupter() *Interrupter {
	in := &Interrupter{}
	fence := rseqop.Status().FenceErr == nil
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pid := unix.Getpid()
		for i := 0; !in.stop.Load(); i++ {
			if fence && i%2 == 0 {
				_ = rseqabi.MembarrierRseqFence()
			} else if tid := in.tid.Load(); tid != 0 {
				_ = unix.Tgkill(pid, int(tid), unix.SIGURG) // ESRCH: the thread just exited
			} else {
				runtime.Gosched()
				continue
			}
			in.interrupts.Add(1)
		}
	}()
	return in
}

// Target makes tid (a thread of this process) the thread to signal.
func (in *Interrupter) Target(tid int) { in.tid.Store(int64(tid)) }

// Stop stops the interrupter, waits for its goroutine and returns how many
// fences and signals it sent.
func (in *Interrupter) Stop() int64 {
	in.stop.Store(true)
	in.wg.Wait()
	return in.interrupts.Load()
}

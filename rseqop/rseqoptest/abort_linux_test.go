package rseqoptest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorseq/rseq/rseqop"
	"golang.org/x/sys/unix"
)

// recorder is a testing.TB that records failures instead of failing the
// test, so that AbortRestart's own verdicts can be checked.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errs   []string
	failed bool
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.failed = true
}

func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprint(args...))
	r.failed = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Helper()             {}

// run calls AbortRestart on its own goroutine (Fatal ends it) and returns
// what it recorded.
//
// Under plain TCG a run without an abort passes (TestAbortRestartPlainTCG);
// the verdict tests want hardware's, so they clear the variable unless the
// test set it.
func run(t *testing.T, opts Options, loop func(func() bool) error) (*recorder, Result) {
	if os.Getenv(EnvVMTest) == VMTestPlainTCG && !strings.HasPrefix(t.Name(), "TestAbortRestartPlainTCG") {
		t.Setenv(EnvVMTest, "")
	}
	r := &recorder{TB: t}
	var res Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = AbortRestart(r, opts, loop)
	}()
	<-done
	return r, res
}

func needFastPath(t *testing.T) {
	if s := rseqop.Status(); !s.FastPath {
		t.Skipf("rseq unavailable: %s", s.Reason)
	}
}

// TestAbortRestartStopsAtWant: the loop ends as soon as the counter has
// moved by Want, and the verdict passes.
func TestAbortRestartStopsAtWant(t *testing.T) {
	needFastPath(t)
	var counter atomic.Uint64
	var calls int
	r, res := run(t, Options{Aborts: counter.Load, Want: 5, Max: time.Minute}, func(enough func() bool) error {
		for !enough() {
			calls++
			counter.Add(1) // stands for an abort
		}
		return nil
	})
	if r.failed {
		t.Fatalf("failed: %q", r.errs)
	}
	if calls != 5 || res.Aborts != 5 {
		t.Errorf("loop ran %d rounds, Result.Aborts = %d; want 5 and 5", calls, res.Aborts)
	}
}

// TestAbortRestartNoAbortFails: a counter that never moves fails the test
// once Max has passed: the abort path is unproven.
func TestAbortRestartNoAbortFails(t *testing.T) {
	needFastPath(t)
	start := time.Now()
	r, res := run(t, Options{Aborts: func() uint64 { return 7 }, Max: 100 * time.Millisecond}, func(enough func() bool) error {
		for !enough() {
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	if !r.failed || len(r.errs) != 1 || !strings.Contains(r.errs[0], "unproven") {
		t.Errorf("no abort: recorded %q, want one 'unproven' failure", r.errs)
	}
	if res.Aborts != 0 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("Result %+v after %v", res, time.Since(start))
	}
	// The interrupter ran meanwhile: fences, or signals to the loop's thread.
	if res.Interrupts == 0 {
		t.Errorf("no interruption in %v", res.Elapsed)
	}
}

// TestAbortRestartPlainTCG: under plain TCG (GORSEQ_VMTEST=tcg) a run
// without an abort passes with a log (an abort there is luck); with one
// instruction per translation block it fails as on hardware.
func TestAbortRestartPlainTCG(t *testing.T) {
	needFastPath(t)
	for env, fails := range map[string]bool{VMTestPlainTCG: false, VMTestOneInsnPerTB: true} {
		t.Setenv(EnvVMTest, env)
		r, _ := run(t, Options{Aborts: func() uint64 { return 7 }, Max: 50 * time.Millisecond}, func(enough func() bool) error {
			for !enough() {
				time.Sleep(time.Millisecond)
			}
			return nil
		})
		if r.failed != fails {
			t.Errorf("%s=%s: failed %v (%q), want %v", EnvVMTest, env, r.failed, r.errs, fails)
		}
	}
}

// TestAbortRestartLoopErrorFails: the model's error fails the test.
func TestAbortRestartLoopErrorFails(t *testing.T) {
	needFastPath(t)
	var counter atomic.Uint64
	r, _ := run(t, Options{Aborts: counter.Load}, func(enough func() bool) error {
		counter.Add(1)
		return errors.New("slot 3 holds 41, want 42")
	})
	if !r.failed || len(r.errs) != 1 || r.errs[0] != "slot 3 holds 41, want 42" {
		t.Errorf("loop error: recorded %q", r.errs)
	}
}

// TestAbortRestartLoopPanicFails: a panicking loop fails the test, with
// the panic, instead of killing the test binary.
func TestAbortRestartLoopPanicFails(t *testing.T) {
	needFastPath(t)
	var counter atomic.Uint64
	r, _ := run(t, Options{Aborts: counter.Load}, func(enough func() bool) error {
		panic("index out of range [7]")
	})
	if !r.failed || len(r.errs) != 1 || !strings.Contains(r.errs[0], "the loop panicked: index out of range [7]") {
		t.Errorf("loop panic: recorded %q", r.errs)
	}
}

// TestAbortRestartEarlyReturnFails: a loop that returns before enough says
// so fails with that reason, not as a long wait without aborts.
func TestAbortRestartEarlyReturnFails(t *testing.T) {
	needFastPath(t)
	r, _ := run(t, Options{Aborts: func() uint64 { return 0 }, Max: time.Minute}, func(enough func() bool) error {
		return nil
	})
	if !r.failed || len(r.errs) != 1 || !strings.Contains(r.errs[0], "before enough() said so") || strings.Contains(r.errs[0], "1m0s") {
		t.Errorf("early return: recorded %q", r.errs)
	}
}

// TestInterrupterRunsUntilStopped: the interrupter interrupts (its target,
// and fences) until stopped, and stops.
func TestInterrupterRunsUntilStopped(t *testing.T) {
	in := StartInterrupter()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		in.Target(unix.Gettid())
		time.Sleep(20 * time.Millisecond)
	}()
	<-done
	n := in.Stop()
	if n == 0 {
		t.Fatal("no interruption in 20 ms")
	}
	if m := in.Stop(); m != n {
		t.Errorf("interruptions went on after Stop: %d, then %d", n, m)
	}
}

package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// EnvNoSubprocess, when set, makes RunSubprocess skip its test: under
// qemu-user (make test-qemu-user) the emulated fork of a multi-threaded
// process sometimes deadlocks before exec, which would hang the run.
const EnvNoSubprocess = "GORSEQ_NO_SUBPROCESS"

// SubprocessOptions configures RunSubprocess.
type SubprocessOptions struct {
	// CPUs, if not empty, is the child's CPU affinity from its first
	// instruction on, like `taskset -c` (no external tool needed: the child
	// is forked from a thread pinned to CPUs, and a forked process inherits
	// its parent thread's mask). runtime.NumCPU in the child is len(CPUs).
	CPUs []int
	// Seccomp, if not NoSeccomp, makes rseq(2) fail in the child. The test
	// binary's TestMain must call MaybeInstallSeccompFromEnv.
	Seccomp Seccomp
	// SeccompInPlace selects the weaker of two ways to install the filter.
	//
	// false (default, strict): the child installs the filter on all its
	// threads, then re-executes itself (execve keeps the filter); the new
	// image runs under it from its first instruction, so no thread of the
	// process under test ever registers rseq: not glibc at start-up in a cgo
	// build (it records registration failure: cpu_id = -2, __rseq_size = 0),
	// not a package init function. This is the honest ENOSYS/EPERM test.
	//
	// true: the filter is installed with TSYNC from TestMain and nothing is
	// re-executed. Registrations made before TestMain (glibc's on the main
	// thread of a cgo build, any made by package init functions) stay live;
	// registration attempts made later fail. Use it to test a process that
	// loses rseq part way, i.e. a mix of registered and stray threads, in a
	// non-cgo build (or a cgo build with GLIBC_TUNABLES=glibc.pthread.rseq=0).
	// In a cgo build where glibc (2.35+) registers threads, the next
	// pthread_create aborts the whole process with "Fatal glibc error: rseq
	// registration failed" (glibc treats a failed registration of a thread
	// whose creator had one as fatal; golang/go#51315): that is glibc's
	// behaviour, not a test failure to chase.
	SeccompInPlace bool
	// NewPIDNamespace starts the child in a new PID namespace (needs
	// CAP_SYS_ADMIN; tb is skipped without it), where it is the only
	// process: the thread ids it gets follow each other predictably, and it
	// may choose the next one by writing /proc/sys/kernel/ns_last_pid (the
	// kernel applies that to the writer's own PID namespace).
	NewPIDNamespace bool
	// Args are extra flags for the test binary (for example "-test.short").
	Args []string
	// Timeout bounds the child (its -test.timeout, and a kill 30s later).
	// 0 means 2 minutes, or less if the parent test's deadline is nearer.
	Timeout time.Duration
	// AllowFailure makes RunSubprocess return a failing child's result
	// instead of failing tb.
	AllowFailure bool
}

// SubprocessResult is what a child did.
type SubprocessResult struct {
	Output   string // stdout and stderr together
	ExitCode int
	Skipped  bool // the child test called t.Skip
}

// RunSubprocess runs the test testName (a top-level test, or "Parent/sub")
// of the current test binary in a child process and waits for it. The child
// gets the parent's environment plus env (KEY=VALUE entries, later ones win),
// plus variables that make IsSubprocess report true. It runs with -test.v
// and -test.count=1.
//
// tb fails if the child cannot start, times out, fails (unless
// opts.AllowFailure), or runs no test (a misspelt name). If the child skips,
// or cannot install the seccomp filter opts asks for, tb is skipped.
func RunSubprocess(tb testing.TB, testName string, env []string, opts SubprocessOptions) SubprocessResult {
	tb.Helper()
	if os.Getenv(EnvNoSubprocess) != "" {
		tb.Skipf("testutil: subprocesses disabled by %s (qemu-user: a fork from a threaded emulated process can deadlock)", EnvNoSubprocess)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatalf("testutil: RunSubprocess: %v", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok && time.Until(dl)-5*time.Second < timeout {
			timeout = time.Until(dl) - 5*time.Second
			if timeout < 5*time.Second {
				tb.Fatalf("testutil: RunSubprocess %s: only %v left before the test binary's -test.timeout", testName, time.Until(dl).Round(time.Millisecond))
			}
		}
	}
	args := append([]string{
		"-test.run=" + runPattern(testName),
		"-test.count=1",
		"-test.v",
		"-test.timeout=" + timeout.String(),
	}, opts.Args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = childEnv(testName, env, opts)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Stdin = nil
	if opts.NewPIDNamespace {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	}

	start := cmd.Start
	if len(opts.CPUs) > 0 {
		start = func() error { return startPinned(cmd, opts.CPUs) }
	}
	if err := start(); err != nil {
		if opts.NewPIDNamespace && errors.Is(err, syscall.EPERM) {
			tb.Skipf("testutil: cannot create a PID namespace here: %v", err)
		}
		if errors.Is(err, syscall.ENOEXEC) {
			// Under qemu-user without binfmt_misc the kernel cannot run
			// the (foreign) test binary.
			tb.Skipf("testutil: cannot re-execute the test binary here: %v", err)
		}
		tb.Fatalf("testutil: RunSubprocess %s: %v", testName, err)
	}
	err = cmd.Wait()
	res := SubprocessResult{Output: out.String(), ExitCode: cmd.ProcessState.ExitCode()}
	res.Skipped = strings.Contains(res.Output, "--- SKIP: "+testName) && !strings.Contains(res.Output, "--- FAIL")
	desc := testName + " (" + describe(opts) + ")"
	switch {
	case ctx.Err() != nil:
		tb.Fatalf("testutil: child %s timed out after %v; output:\n%s", desc, timeout, res.Output)
	case strings.Contains(res.Output, seccompUnavailable):
		tb.Skipf("testutil: child %s cannot install its seccomp filter:\n%s", desc, res.Output)
	case strings.Contains(res.Output, "testing: warning: no tests to run"):
		tb.Fatalf("testutil: child %s ran no test: does %q exist?\n%s", desc, testName, res.Output)
	case err != nil && !opts.AllowFailure:
		hint := ""
		if strings.Contains(res.Output, "Fatal glibc error: rseq registration failed") {
			hint = " (glibc aborted a new thread whose rseq registration failed: see SubprocessOptions.SeccompInPlace)"
		}
		tb.Fatalf("testutil: child %s failed: %v%s; output:\n%s", desc, err, hint, res.Output)
	case res.Skipped:
		tb.Skipf("testutil: child %s skipped:\n%s", desc, res.Output)
	}
	if testing.Verbose() {
		tb.Logf("child %s output:\n%s", desc, res.Output)
	}
	return res
}

func describe(o SubprocessOptions) string {
	var parts []string
	if o.Seccomp != NoSeccomp {
		mode := "re-exec"
		if o.SeccompInPlace {
			mode = "in place"
		}
		parts = append(parts, "seccomp rseq="+o.Seccomp.String()+", "+mode)
	}
	if len(o.CPUs) > 0 {
		parts = append(parts, fmt.Sprint("cpus=", o.CPUs))
	}
	if o.NewPIDNamespace {
		parts = append(parts, "new PID namespace")
	}
	if len(parts) == 0 {
		return "plain"
	}
	return strings.Join(parts, "; ")
}

// runPattern anchors every element of a test name ("A/B" -> "^A$/^B$").
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func childEnv(testName string, extra []string, opts SubprocessOptions) []string {
	var env []string
	for _, kv := range os.Environ() { // a child of a child starts clean
		if !strings.HasPrefix(kv, "GORSEQ_TESTUTIL_") {
			env = append(env, kv)
		}
	}
	env = append(env, envChild+"="+testName)
	if opts.Seccomp != NoSeccomp {
		stage := "exec"
		if opts.SeccompInPlace {
			stage = "tsync"
		}
		env = append(env, envSeccomp+"="+opts.Seccomp.String(), envStage+"="+stage)
	}
	return append(env, extra...)
}

// startPinned starts cmd from a fresh OS thread whose affinity is cpus; the
// child inherits that mask. The thread is never handed back to the
// scheduler: the goroutine exits locked, which ends the thread.
func startPinned(cmd *exec.Cmd, cpus []int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the pinned thread dies with this goroutine.
		if err := unix.SchedSetaffinity(0, setOf(cpus...)); err != nil {
			errc <- err
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

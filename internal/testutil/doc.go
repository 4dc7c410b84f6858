// Package testutil holds stress helpers shared by gorseq's tests: threads that
// migrate between CPUs while they run, signal storms aimed at chosen threads,
// scheduler and GC pressure, and re-execution of a single test in a child
// process under a different environment, CPU affinity, or a seccomp filter
// that makes the rseq system call fail.
//
// What each helper guarantees:
//
//   - StartMigrationStorm: workers run Work on a single-CPU affinity that
//     changes between calls; threads named by TIDs are re-pinned every
//     Interval. Stop restores every mask it changed (see its doc).
//   - StartSignalStorm: tgkill(2) to every named thread, round after round;
//     Stats counts sends and the deliveries the Go handler saw. Every signal
//     delivered while a thread is inside an rseq critical section aborts it.
//   - StartPressure, SetGCPercent: oversubscribed Ps (asynchronous
//     preemption), allocation and back-to-back GCs; restored in Cleanup.
//   - RunSubprocess: the named test alone in a fresh process of the same
//     binary, with extra environment (e.g. GLIBC_TUNABLES=glibc.pthread.rseq=0,
//     which only a new process can apply), affinity from its first
//     instruction (CPUs), and optionally rseq(2) failing with ENOSYS or EPERM
//     from its first instruction (Seccomp, re-exec mode) or from TestMain on
//     (SeccompInPlace). SubprocessOptions documents the exact difference and
//     glibc's behaviour in cgo builds.
//
// Everything here is Linux only; on other systems the package is empty.
//
// A test package that uses RunSubprocess with a seccomp mode must call
// MaybeInstallSeccompFromEnv first thing in its TestMain:
//
//	func TestMain(m *testing.M) {
//		testutil.MaybeInstallSeccompFromEnv()
//		os.Exit(m.Run())
//	}
package testutil

// Package testutil holds stress helpers shared by gorseq's tests: threads that
// migrate between CPUs while they run, signal storms aimed at chosen threads,
// scheduler and GC pressure, and re-execution of a single test in a child
// process under a different environment, CPU affinity, or a seccomp filter
// that makes the rseq system call fail.
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

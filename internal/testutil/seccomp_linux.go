package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Seccomp selects a seccomp filter for a subprocess (SubprocessOptions).
type Seccomp int

const (
	// NoSeccomp runs the child without a filter.
	NoSeccomp Seccomp = iota
	// RseqENOSYS makes rseq(2) fail with ENOSYS, as on a kernel without
	// rseq (before 4.18) or under qemu-user.
	RseqENOSYS
	// RseqEPERM makes rseq(2) fail with EPERM, as container runtimes with
	// an old default profile do (golang/go#51315).
	RseqEPERM
)

func (s Seccomp) String() string {
	switch s {
	case NoSeccomp:
		return "none"
	case RseqENOSYS:
		return "enosys"
	case RseqEPERM:
		return "eperm"
	}
	return fmt.Sprintf("Seccomp(%d)", int(s))
}

func (s Seccomp) errno() syscall.Errno {
	if s == RseqEPERM {
		return unix.EPERM
	}
	return unix.ENOSYS
}

func parseSeccomp(v string) (Seccomp, bool) {
	for _, s := range []Seccomp{RseqENOSYS, RseqEPERM} {
		if v == s.String() {
			return s, true
		}
	}
	return NoSeccomp, false
}

// Environment of a child started by RunSubprocess.
const (
	envChild   = "GORSEQ_TESTUTIL_CHILD"   // name of the test the child runs
	envSeccomp = "GORSEQ_TESTUTIL_SECCOMP" // "enosys" or "eperm"
	// envStage: "tsync": install in place; "exec": install, then re-exec;
	// "exec-done": set by the re-exec, the filter is on from the first
	// instruction of this image.
	envStage = "GORSEQ_TESTUTIL_SECCOMP_STAGE"
	// seccompUnavailable is printed by a child that cannot install the
	// filter; RunSubprocess then skips the test.
	seccompUnavailable     = "TESTUTIL-SECCOMP-UNAVAILABLE"
	exitSeccompUnavailable = 3
)

// IsSubprocess reports whether this process is a child started by
// RunSubprocess.
func IsSubprocess() bool { return os.Getenv(envChild) != "" }

// MaybeInstallSeccompFromEnv installs the seccomp filter a parent asked for
// through RunSubprocess, and does nothing in any other process. Call it first
// thing in TestMain (package init functions run before it; see the
// SubprocessOptions.SeccompInPlace notes for what that means).
//
// In the default (re-exec) mode it does not return in the first image: it
// installs the filter on the calling thread and re-executes the test binary
// from that thread, so the new image starts under the filter. If the filter cannot be installed the
// process exits with status 3 after printing a marker that makes the parent
// skip the test.
func MaybeInstallSeccompFromEnv() {
	s, ok := parseSeccomp(os.Getenv(envSeccomp))
	if !ok {
		return
	}
	stage := os.Getenv(envStage)
	switch stage {
	case "exec-done":
		if mode := SeccompMode(); mode != 2 {
			fmt.Fprintf(os.Stderr, "testutil: re-executed under a seccomp filter but /proc/self/status says Seccomp: %d\n", mode)
			os.Exit(2)
		}
		return
	case "tsync", "exec":
	default:
		fmt.Fprintf(os.Stderr, "testutil: bad %s=%q\n", envStage, stage)
		os.Exit(2)
	}
	if stage == "tsync" {
		if err := InstallRseqFilter(s); err != nil {
			fmt.Printf("%s: %v\n", seccompUnavailable, err)
			os.Exit(exitSeccompUnavailable)
		}
		return
	}
	// Filter only this thread, then execve from it: the filter survives
	// execve and the other threads do not. Filtering all threads instead
	// would let glibc (cgo builds) abort the process if the runtime
	// started a thread in between (see SubprocessOptions.SeccompInPlace).
	// While this thread is locked, the runtime creates new threads from
	// its template thread, so none inherits this filter.
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testutil: re-exec under seccomp: %v\n", err)
		os.Exit(2)
	}
	runtime.LockOSThread()
	if err := installFilter(unix.SYS_RSEQ, s.errno(), 0); err != nil {
		fmt.Printf("%s: %v\n", seccompUnavailable, err)
		os.Exit(exitSeccompUnavailable)
	}
	err = syscall.Exec(exe, os.Args, setEnv(os.Environ(), envStage, "exec-done"))
	fmt.Fprintf(os.Stderr, "testutil: re-exec under seccomp: %v\n", err)
	os.Exit(2)
}

// InstallRseqFilter installs, on every thread of the process (seccomp(2) with
// SECCOMP_FILTER_FLAG_TSYNC, after prctl(PR_SET_NO_NEW_PRIVS)), a classic BPF
// filter that makes rseq(2) fail with the errno s selects and allows every
// other system call. The filter cannot be removed; it is inherited by
// threads created later, by children, and across execve.
//
// It does not undo a registration a thread made before: such a thread keeps
// its area and its critical sections keep working.
func InstallRseqFilter(s Seccomp) error {
	if s == NoSeccomp {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return installFilter(unix.SYS_RSEQ, s.errno(), unix.SECCOMP_FILTER_FLAG_TSYNC)
}

// DenyMembarrier installs, on every thread of the process (TSYNC), a
// filter that makes membarrier(2) fail with EPERM and allows every other
// system call: a process that sandboxes itself once it runs, after the
// library registered for rseq fences at initialisation. The filter cannot
// be removed: call it in a child (RunSubprocess).
func DenyMembarrier() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return installFilter(unix.SYS_MEMBARRIER, unix.EPERM, unix.SECCOMP_FILTER_FLAG_TSYNC)
}

// installFilter installs, on the calling thread (which the caller has
// locked) with the given seccomp(2) flags, a filter that makes system call
// nr fail with errno and allows every other.
func installFilter(nr uintptr, errno syscall.Errno, flags uintptr) error {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no seccomp audit arch for %s", runtime.GOARCH)
	}
	prog := []unix.SockFilter{
		/* 0 */ {Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		/* 1 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: arch, Jt: 0, Jf: 3}, // other arch: allow
		/* 2 */ {Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		/* 3 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(nr), Jt: 0, Jf: 1},
		/* 4 */ {Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		/* 5 */ {Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, %#x): %w", flags, e)
	}
	if r != 0 {
		return fmt.Errorf("seccomp TSYNC: thread %d could not be synchronized", r)
	}
	return nil
}

var auditArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}

// SeccompMode returns the calling thread's seccomp mode from
// /proc/thread-self/status (0 none, 1 strict, 2 filter), or -1 if unknown.
func SeccompMode() int {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Seccomp:"); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n
			}
		}
	}
	return -1
}

// setEnv returns env with key set to value (any earlier entries for key removed).
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

//go:build linux

package percpu

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
)

// TestUnavailableChild runs in a child whose rseq(2) fails from its first
// instruction: the process must choose rseqop.ModeNone (or, with cgo, find glibc's
// failed registration) and every structure must stay exact.
func TestUnavailableChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs in a child under a seccomp filter (TestUnavailable)")
	}
	s := Status()
	t.Logf("%v", s)
	if s.FastPath || s.Mode != rseqop.ModeNone {
		t.Fatalf("fast path %v, mode %v under a filter that rejects rseq", s.FastPath, s.Mode)
	}
	if s.Reason == "" {
		t.Fatal("no reason reported")
	}
	th := rseqop.Pin()
	if th.Err() == nil || !errors.Is(th.Err(), rseqop.ErrUnavailable) {
		t.Errorf("Pin: Err = %v, want rseqop.ErrUnavailable", th.Err())
	}
	if cpu := th.CPU(); cpu < 0 {
		t.Errorf("CPU() = %d without rseq (getcpu fallback)", cpu)
	}
	th.Unpin()
	checkStructuresExact(t)
}

func TestUnavailable(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("parent only")
	}
	for _, sc := range []testutil.Seccomp{testutil.RseqENOSYS, testutil.RseqEPERM} {
		t.Run(sc.String(), func(t *testing.T) {
			r := testutil.RunSubprocess(t, "TestUnavailableChild", nil, testutil.SubprocessOptions{Seccomp: sc})
			want := map[testutil.Seccomp]string{testutil.RseqENOSYS: "not supported", testutil.RseqEPERM: "seccomp"}[sc]
			if zopHaveAsm && !strings.Contains(r.Output, want) {
				t.Errorf("child's reason does not mention %q:\n%s", want, r.Output)
			}
		})
	}
}

// TestTasksetChild runs restricted to CPU 1, where cpu_id (1) is not below
// runtime.NumCPU (1): slots must be sized by the possible CPUs.
func TestTasksetChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs in a child under CPU affinity (TestTaskset)")
	}
	if runtime.NumCPU() != 1 {
		t.Fatalf("NumCPU %d in the child, want 1", runtime.NumCPU())
	}
	th := rseqop.Pin()
	cpu := th.CPU()
	th.Unpin()
	if cpu != 1 {
		t.Fatalf("on CPU %d, want 1", cpu)
	}
	if proc.slots < 2 {
		t.Fatalf("%d slots: sized by NumCPU, not the possible CPUs", proc.slots)
	}
	checkStructuresExact(t)
}

func TestTaskset(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("parent only")
	}
	if n, _ := rseqabi.PossibleCPUs(); n < 2 || len(testutil.AllowedCPUs()) < 2 {
		t.Skip("needs CPU 1")
	}
	testutil.RunSubprocess(t, "TestTasksetChild", nil, testutil.SubprocessOptions{CPUs: []int{1}})
}

//go:build linux

package percpu

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
	"github.com/gorseq/rseq/rseqabi"
)

// TestLateSandbox runs TestLateSandboxChild in a child process: the filter
// it installs cannot be removed.
func TestLateSandbox(t *testing.T) {
	if testutil.IsSubprocess() {
		t.Skip("parent only")
	}
	if !counterRseq {
		t.Skip("no rseq fences in this process: Counter and Sharded use their fallbacks")
	}
	r := testutil.RunSubprocess(t, "TestLateSandboxChild", nil, testutil.SubprocessOptions{})
	if !strings.Contains(r.Output, "fences stop the world") {
		t.Errorf("the child's status does not say that fences stop the world:\n%s", r.Output)
	}
}

// TestLateSandboxChild: a process that sandboxes itself after start-up
// with a seccomp filter answering EPERM to membarrier, after percpu
// registered for rseq fences. Counter.Reset and Sharded's Range/Merge then
// fence by stopping the world: exact totals under the stress tests (Reset
// storm, Ranges and Merges beside Updates), no panic, no claim left behind
// (a second Merge would wait for it forever), and Status says the fence is
// lost and why (EPERM).
func TestLateSandboxChild(t *testing.T) {
	if !testutil.IsSubprocess() {
		t.Skip("runs in a child (TestLateSandbox)")
	}
	if s := Status(); s.FenceLost != nil {
		t.Fatalf("fence lost before the filter: %v", s.FenceLost)
	}
	if err := testutil.DenyMembarrier(); err != nil {
		t.Skipf("cannot install the seccomp filter: %v", err)
	}
	if err := rseqabi.MembarrierRseqFence(); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("membarrier after the filter: %v, want EPERM", err)
	}
	t.Run("CounterReset", TestCounterResetExact)
	t.Run("Sharded", TestShardedExactUnderStress)
	s := Status()
	t.Logf("%v", s)
	switch {
	case s.FenceLost == nil:
		t.Fatal("Status().FenceLost is nil after fences failed")
	case !errors.Is(s.FenceLost, syscall.EPERM) || !strings.Contains(s.FenceLost.Error(), "membarrier") || !strings.Contains(s.FenceLost.Error(), "EPERM"):
		t.Errorf("FenceLost = %q: want membarrier's EPERM named", s.FenceLost)
	case errors.Is(s.FenceLost, rseqabi.ErrPermission):
		t.Errorf("FenceLost = %q blames rseq's signature", s.FenceLost)
	}
	if !counterRseq || !shardedRseq() {
		t.Error("the structures left their critical sections: they must keep them, fencing by stopping the world")
	}
}

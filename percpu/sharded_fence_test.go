package percpu

import (
	"go/build/constraint"
	"os"
	"strings"
	"testing"

	"github.com/gorseq/rseq/internal/arch"
)

// TestAcquireFencePerArch: every architecture with critical sections
// (internal/arch.All) states its rule for Sharded's acquire in a file of its
// own, sharded_fence_<arch>.go: a barrier in sharded_fence_<arch>.s where its
// loads may pass earlier loads (Weak), a no-op with the reason where they
// may not; and the no-op for builds without critical sections applies to
// none of them on Linux.
func TestAcquireFencePerArch(t *testing.T) {
	noasm, err := os.ReadFile("sharded_fence_noasm.go")
	if err != nil {
		t.Skip("the sources are not here (a test binary in a VM): the host legs read them")
	}
	expr, err := constraint.Parse(strings.SplitN(string(noasm), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arch.All {
		src, err := os.ReadFile("sharded_fence_" + a.GOARCH + ".go")
		if err != nil {
			t.Errorf("%s has critical sections but no sharded_fence_%s.go: %v", a.GOARCH, a.GOARCH, err)
			continue
		}
		_, asmErr := os.Stat("sharded_fence_" + a.GOARCH + ".s")
		bodyless := strings.Contains(string(src), "func shardAcquireFence()\n")
		if a.Weak && (asmErr != nil || !bodyless) {
			t.Errorf("%s is weakly ordered: shardAcquireFence must be a barrier in sharded_fence_%s.s", a.GOARCH, a.GOARCH)
		}
		if !a.Weak && (asmErr == nil || bodyless) {
			t.Errorf("%s orders loads (TSO): shardAcquireFence should be a documented no-op", a.GOARCH)
		}
		if expr.Eval(func(tag string) bool { return tag == "linux" || tag == a.GOARCH }) {
			t.Errorf("sharded_fence_noasm.go builds for linux/%s, which has critical sections", a.GOARCH)
		}
	}
}

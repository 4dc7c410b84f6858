package testutil

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// ResidentBytes returns the process's resident memory (VmRSS) after a
// collection that returned the heap's free pages to the kernel: the heap,
// the runtime's own records and memory mapped outside the heap (percpu's
// arena) alike. It skips the test where /proc/self/status has no VmRSS.
func ResidentBytes(t testing.TB) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(v, &kb); err != nil {
				t.Fatalf("VmRSS line %q: %v", l, err)
			}
			return kb * 1024
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

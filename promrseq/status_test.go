package promrseq

import (
	"os"
	"testing"

	"github.com/gorseq/rseq/percpu"
)

// TestStatus: where the make target says rseq must work (GORSEQ_EXPECT_MODE
// other than none), percpu's fast path is on, so the tests that need it
// (TestMetricsAbortRestart) run rather than skip; under "none" it is off.
func TestStatus(t *testing.T) {
	s := percpu.Status()
	t.Logf("percpu: mode %v, fast path %v %s", s.Mode, s.FastPath, s.Reason)
	expect := os.Getenv("GORSEQ_EXPECT_MODE")
	if expect == "" {
		return
	}
	if s.Mode.String() != expect {
		t.Errorf("mode %v, GORSEQ_EXPECT_MODE=%s", s.Mode, expect)
	}
	if s.FastPath != (expect != "none") {
		t.Errorf("fast path %v (%s), GORSEQ_EXPECT_MODE=%s", s.FastPath, s.Reason, expect)
	}
}

package percpu

import (
	"os"
	"testing"
)

// TestStatus: where the make target says which mode this process must be in
// (GORSEQ_EXPECT_MODE), percpu is in it, and unless that mode is none its
// own critical sections passed validation and run: the op tests skip where
// they do not, so without this a refused op set (zopErr) would pass quietly.
func TestStatus(t *testing.T) {
	s := Status()
	t.Logf("%v; percpu's ops: %v", s, zopErr)
	expect := os.Getenv("GORSEQ_EXPECT_MODE")
	if expect == "" {
		t.Skip("GORSEQ_EXPECT_MODE not set")
	}
	if s.Mode.String() != expect {
		t.Errorf("mode %v, GORSEQ_EXPECT_MODE=%s", s.Mode, expect)
	}
	if expect != "none" && (!s.FastPath || zopErr != nil || !opFastPath()) {
		t.Errorf("percpu's critical sections do not run (%s; %v), GORSEQ_EXPECT_MODE=%s expects them to", s.Reason, zopErr, expect)
	}
}

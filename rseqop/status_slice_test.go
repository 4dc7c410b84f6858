package rseqop

import (
	"errors"
	"strings"
	"testing"

	"github.com/gorseq/rseq/rseqabi"
)

// TestStatusSliceExtension: Status reports the time slice extension as the
// kernel answers it; on kernels without it (all this project tests on so
// far) as absent through the expected EINVAL, never another error.
func TestStatusSliceExtension(t *testing.T) {
	s := Status()
	se := s.SliceExtension
	if now := rseqabi.DetectSliceExtension(); se.Present != now.Present || se.String() != now.String() {
		t.Errorf("Status: %v, detection now: %v", se, now)
	}
	if !se.Present && !errors.Is(se.Err, rseqabi.ErrSliceExtAbsent) {
		t.Errorf("absent with an unexpected error: %v", se.Err)
	}
	if !strings.Contains(s.String(), "time slice extension "+se.String()) {
		t.Errorf("Status string does not report it: %s", s)
	}
}

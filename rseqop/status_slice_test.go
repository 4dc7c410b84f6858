package rseqop

import (
	"errors"
	"strings"
	"testing"

	"github.com/gorseq/rseq/rseqabi"
)

// TestStatusSliceExtension: Status reports the time slice extension as the
// kernel answers it: present, or absent for a reason that means "not
// available here" (Linux < 7.0: EINVAL; Debian's 7.2: ENOTSUPP), never a
// failed query.
func TestStatusSliceExtension(t *testing.T) {
	s := Status()
	se := s.SliceExtension
	if now := rseqabi.DetectSliceExtension(); se.Present != now.Present || se.String() != now.String() {
		t.Errorf("Status: %v, detection now: %v", se, now)
	}
	if !se.Present && !errors.Is(se.Err, rseqabi.ErrSliceExtUnavailable) {
		t.Errorf("absent with an unexpected error: %v", se.Err)
	}
	if !strings.Contains(s.String(), "time slice extension "+se.String()) {
		t.Errorf("Status string does not report it: %s", s)
	}
}

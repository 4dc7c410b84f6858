package rseqabi

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSliceExtensionFrom(t *testing.T) {
	cases := []struct {
		r       uintptr
		e       syscall.Errno
		present bool
		enabled bool
		absent  bool
		str     string
	}{
		{0, 0, true, false, false, "present (not enabled)"},
		{PR_RSEQ_SLICE_EXT_ENABLE, 0, true, true, false, "present, enabled on this thread"},
		{0, syscall.EINVAL, false, false, true, "absent"},
		{0, errnoENOTSUPP, false, false, false, ""},
		{0, syscall.EPERM, false, false, false, ""},
	}
	for _, c := range cases {
		s := sliceExtensionFrom(c.r, c.e)
		if s.Present != c.present || s.Enabled != c.enabled || errors.Is(s.Err, ErrSliceExtAbsent) != c.absent {
			t.Errorf("(%d, %v): %+v", c.r, c.e, s)
		}
		if !c.present && s.Err == nil {
			t.Errorf("(%d, %v): absent without a reason", c.r, c.e)
		}
		if c.str != "" && s.String() != c.str {
			t.Errorf("(%d, %v): String() = %q, want %q", c.r, c.e, s.String(), c.str)
		}
	}
}

// TestDetectSliceExtension: on a kernel older than 7.0 (every kernel this
// project tests on so far) the extension is reported absent, through the
// EINVAL of an unknown prctl option, not through an unexpected error.
func TestDetectSliceExtension(t *testing.T) {
	s := DetectSliceExtension()
	t.Logf("time slice extension: %v", s)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	major, _ := strconv.Atoi(strings.SplitN(release, ".", 2)[0])
	if major >= 7 {
		if s.Err != nil && !errors.Is(s.Err, ErrSliceExtAbsent) {
			t.Errorf("Linux %s: unexpected error %v", release, s.Err)
		}
		return
	}
	if s.Present || s.Enabled || !errors.Is(s.Err, ErrSliceExtAbsent) {
		t.Fatalf("Linux %s: %+v, want absent (ErrSliceExtAbsent)", release, s)
	}
	if s.String() != "absent" {
		t.Errorf("String() = %q", s.String())
	}
}

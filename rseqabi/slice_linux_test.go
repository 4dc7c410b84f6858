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
		r           uintptr
		e           syscall.Errno
		present     bool
		enabled     bool
		unavailable bool   // errors.Is(Err, ErrSliceExtUnavailable)
		is          error  // and this sentinel, if not nil
		str         string // String(), or a substring of it after "~"
	}{
		{0, 0, true, false, false, nil, "present (not enabled)"},
		{PR_RSEQ_SLICE_EXT_ENABLE, 0, true, true, false, nil, "present, enabled on this thread"},
		{0, syscall.EINVAL, false, false, true, ErrSliceExtAbsent, "absent"},
		{0, errnoENOTSUPP, false, false, true, ErrSliceExtNotConfigured, "~absent (rseq: time slice extension not configured in this kernel"},
		{0, syscall.EOPNOTSUPP, false, false, true, ErrSliceExtNotConfigured, "~not configured"},
		{0, syscall.EPERM, false, false, true, nil, "~absent (rseq: time slice extension query refused (prctl: operation not permitted, EPERM)"},
		{0, syscall.ENOSYS, false, false, true, nil, "~seccomp"},
		{0, syscall.EFAULT, false, false, false, nil, "~unknown (query failed"},
	}
	for _, c := range cases {
		s := sliceExtensionFrom(c.r, c.e)
		if s.Present != c.present || s.Enabled != c.enabled || errors.Is(s.Err, ErrSliceExtUnavailable) != c.unavailable {
			t.Errorf("(%d, %v): %+v", c.r, c.e, s)
		}
		if c.is != nil && !errors.Is(s.Err, c.is) {
			t.Errorf("(%d, %v): %v is not %v", c.r, c.e, s.Err, c.is)
		}
		if !c.present && s.Err == nil {
			t.Errorf("(%d, %v): absent without a reason", c.r, c.e)
		}
		if sub, ok := strings.CutPrefix(c.str, "~"); ok && !strings.Contains(s.String(), sub) || !ok && s.String() != c.str {
			t.Errorf("(%d, %v): String() = %q, want %q", c.r, c.e, s.String(), c.str)
		}
	}
}

// TestDetectSliceExtension: every kernel answers with the extension present
// or a reason it is not available here, never a failed query: before 7.0
// through the EINVAL of an unknown prctl option (ErrSliceExtAbsent); on
// 7.x present, or (Debian's 7.2 and 7.3, built without
// CONFIG_RSEQ_SLICE_EXTENSION) ENOTSUPP, ErrSliceExtNotConfigured.
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
		if !s.Present && !errors.Is(s.Err, ErrSliceExtNotConfigured) {
			t.Errorf("Linux %s: %v; want present or not configured", release, s)
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

//go:build linux

package rseqop

import (
	"os"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
)

func TestMain(m *testing.M) {
	// A child started by testutil.RunSubprocess with a seccomp filter
	// re-executes itself under the filter here (package init has already
	// run in this first image; the re-executed image starts filtered).
	testutil.MaybeInstallSeccompFromEnv()
	os.Exit(m.Run())
}

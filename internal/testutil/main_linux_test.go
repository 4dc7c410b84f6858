package testutil_test

import (
	"os"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.MaybeInstallSeccompFromEnv()
	os.Exit(m.Run())
}

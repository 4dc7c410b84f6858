package gen

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gorseq/rseq/gen/golang"
	"github.com/gorseq/rseq/gen/ops"
)

// TestLibrseqOpsRun generates librseq's op set (gen/ops.Librseq), which no
// package of the repository generates, into a scratch module and runs
// testdata/librseqrun/ops_test.go there on this machine: every op's
// semantics, and exact models under rseqoptest.AbortRestart, so that the
// IR's Store and Copy statements run as critical sections that abort and
// restart, in the process modes without cgo (ModeSelf) and with it.
func TestLibrseqOpsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a scratch module")
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("no critical sections on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	files, err := generateFiles(ops.Librseq(), golang.Target{Package: "librseqops", Path: "librseqrun", Generator: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if files["ops_test.go"], err = os.ReadFile(filepath.Join("testdata", "librseqrun", "ops_test.go")); err != nil {
		t.Fatal(err)
	}
	dir := scratchModule(t, "librseqrun", files)
	for _, cgo := range []string{"0", "1"} {
		out, err := goIn(dir, []string{"CGO_ENABLED=" + cgo}, "test", "-count=1", "-v", ".")
		if err != nil {
			t.Errorf("CGO_ENABLED=%s go test in the scratch module: %v\n%s", cgo, err, out)
			continue
		}
		t.Logf("CGO_ENABLED=%s:\n%s", cgo, out)
	}
}

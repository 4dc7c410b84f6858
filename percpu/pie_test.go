//go:build linux && (amd64 || arm64) && !purego

package percpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorseq/rseq/internal/testutil"
)

// TestNonCgoPIE builds testdata/piechild with CGO_ENABLED=0
// -buildmode=pie and runs it. Such a binary has a dynamic loader (ld.so),
// which registers rseq for the main thread before Go starts (glibc 2.35+),
// so the library's registration of the main thread fails (EINVAL: another
// area). Before issue 11 the process then chose ModeNone: no thread had the
// fast path. The child checks that it is ModeSelf with the fast path, that
// the main thread is stray while its other threads register, and that a
// Counter added to from both stays exact.
func TestNonCgoPIE(t *testing.T) {
	if os.Getenv(testutil.EnvNoSubprocess) != "" {
		t.Skipf("subprocesses disabled by %s", testutil.EnvNoSubprocess)
	}
	if proc.libc.Cgo {
		t.Skip("runs in the CGO_ENABLED=0 leg (the child is built without cgo either way)")
	}
	// go test puts the go command that runs it first in PATH (Go 1.19+),
	// so this is the toolchain under test, GOTOOLCHAIN's included.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the child (a VM or a copied test binary): %v", err)
	}
	exe := filepath.Join(t.TempDir(), "piechild")
	build := exec.Command(gobin, "build", "-buildmode=pie", "-o", exe, "./testdata/piechild")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=pie: %v\n%s", err, out)
	}
	out, err := exec.Command(exe).CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child failed: %v", err)
	}
	if s := string(out); strings.Contains(s, "SKIP") {
		t.Skip(strings.TrimSpace(s[strings.Index(s, "SKIP"):]))
	}
	if !strings.Contains(string(out), "\nok\n") {
		t.Fatal("child did not finish")
	}
}

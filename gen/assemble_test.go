package gen

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gorseq/rseq/gen/golang"
	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/gen/ops"
)

// TestFuzzedOpsAssemble generates a batch of random valid ops (the fuzz
// decoder) and librseq's op set into a scratch package of another module and builds, vets and
// links it for amd64 and arm64: the back ends' text must assemble, pass
// asmdecl and link against rseqop alone, not only look right to
// CheckStructure.
func TestFuzzedOpsAssemble(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a scratch package twice")
	}
	var all []*ir.Op
	for i := 0; len(all) < 40 && i < 100000; i++ {
		data := make([]byte, 64)
		x := uint32(i)*2246822519 + 7
		for j := range data {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			data[j] = byte(x)
		}
		op := decodeOp(data)
		op.Name = fmt.Sprintf("Fuzz%d", len(all))
		if op.Validate() == nil {
			all = append(all, op)
		}
	}
	t.Logf("%d random ops", len(all))
	// And librseq's op set (gen/ops.Librseq), which no package generates.
	all = append(all, ops.Librseq()...)
	// A package of another module, named unlike percpu, linked into a
	// program: the generated files need only gorseq's public packages.
	files, err := generateFiles(all, golang.Target{Package: "fuzzops", Path: "scratch", Generator: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// The generated files need only gorseq's public packages (rseqop).
	files["go.mod"] = []byte("module scratch\n\ngo 1.26\n\nrequire github.com/gorseq/rseq v0.0.0\n\nreplace github.com/gorseq/rseq => " + root + "\n")
	if files["go.sum"], err = os.ReadFile(filepath.Join(root, "go.sum")); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd", "x", "main.go"), []byte("package main\n\nimport _ \"scratch\"\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		for _, verb := range [][]string{{"build", "."}, {"vet", "."}, {"build", "-o", os.DevNull, "./cmd/x"}} {
			cmd := exec.Command("go", verb...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOPROXY=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("GOARCH=%s go %v: %v\n%s", arch, verb, err, out)
			}
		}
	}
}

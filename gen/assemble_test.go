package gen

import (
	"fmt"
	"os"
	"testing"

	"github.com/gorseq/rseq/gen/internal/golang"
	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/gen/ops"
)

// TestFuzzedOpsAssemble generates a batch of random valid ops (the fuzz
// decoder) and librseq's op set into a scratch package of another module and builds, vets and
// links it for amd64 and arm64: the back ends' text must assemble, pass
// asmdecl and link against rseqop alone, not only look right to
// checkStructure.
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
	files, err := generateFiles(all, golang.Target{Package: "fuzzops", Path: "scratch", Generator: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A package of another module, named unlike percpu, linked into a
	// program: the generated files need only gorseq's public packages
	// (rseqop).
	files["cmd/x/main.go"] = []byte("package main\n\nimport _ \"scratch\"\n\nfunc main() {}\n")
	dir := scratchModule(t, "scratch", files)
	for _, arch := range []string{"amd64", "arm64"} {
		for _, verb := range [][]string{{"build", "."}, {"vet", "."}, {"build", "-o", os.DevNull, "./cmd/x"}} {
			if out, err := goIn(dir, []string{"GOOS=linux", "GOARCH=" + arch, "CGO_ENABLED=0"}, verb...); err != nil {
				t.Errorf("GOARCH=%s go %v: %v\n%s", arch, verb, err, out)
			}
		}
	}
}

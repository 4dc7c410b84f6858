package gen

import (
	"testing"

	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/rseqop"
)

// TestRuntimeAgrees: what the generator writes (markers, signature
// prefix, the arm64 prologue's g.m offset) is what rseqop looks for and
// checks at init.
func TestRuntimeAgrees(t *testing.T) {
	for _, c := range []struct {
		what      string
		gen, want uint64
	}{
		{"amd64 marker prefix", uint64(ir.AMD64MarkerPrefix), uint64(rseqop.AMD64MarkerPrefix)},
		{"amd64 start marker", uint64(ir.AMD64Start), uint64(rseqop.AMD64Start)},
		{"amd64 post-commit marker", uint64(ir.AMD64PostCommit), uint64(rseqop.AMD64PostCommit)},
		{"arm64 start marker", uint64(ir.ARM64Start), uint64(rseqop.ARM64Start)},
		{"arm64 post-commit marker", uint64(ir.ARM64PostCommit), uint64(rseqop.ARM64PostCommit)},
		{"arm64 signature", uint64(ir.ARM64Signature), uint64(rseqop.ARM64Signature)},
		{"g.m offset", uint64(ir.RuntimeGMOffset), uint64(rseqop.RuntimeGMOffset)},
		{"ownership offset that disables a package", uint64(^uintptr(0)), uint64(rseqop.OwnerDisabled)},
	} {
		if c.gen != c.want {
			t.Errorf("%s: generator %#x, rseqop %#x", c.what, c.gen, c.want)
		}
	}
}

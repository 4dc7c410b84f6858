package percpu

import (
	"testing"

	"github.com/gorseq/rseq/gen/ir"
)

// TestGMOffsetMatchesGenerator: the arm64 prologue the generator writes
// reads g.m at the offset percpu checks at init.
func TestGMOffsetMatchesGenerator(t *testing.T) {
	if gMOffset != ir.RuntimeGMOffset {
		t.Fatalf("percpu gMOffset %d, gen/ir RuntimeGMOffset %d", gMOffset, ir.RuntimeGMOffset)
	}
}

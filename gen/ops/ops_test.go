package ops

import (
	"testing"

	"github.com/gorseq/rseq/gen/ir"
)

func TestAllValid(t *testing.T) {
	for _, op := range append(All(), Librseq()...) {
		if err := op.Validate(); err != nil {
			t.Fatal(err)
		}
		regs := op.Regs()
		n := 0
		for _, r := range regs {
			n = max(n, r+1)
		}
		t.Logf("%s(%d registers of %d)", op, n, ir.MaxRegs)
	}
}

package ops

import (
	"testing"

	. "github.com/gorseq/rseq/gen/ir"
)

// LoadMaxStore is the worked example of gen/README.md: keep it in sync.
func LoadMaxStore() *Builder {
	b := New("LoadMaxStore", `stores v at base + idx*stride if v is greater (unsigned) than the word there.
Fails with 1 if the word is already >= v (nothing stored).`)
	base, stride := b.Param("base", Ptr), b.Param("stride", Word)
	b.Param("limit", Word)
	v := b.Param("v", Word)
	notGreater := b.Fail("word >= v")
	s := slot(b, base, stride)             // base + idx*stride
	w := b.Load(Word, 8, At(s, 0))         // w = *slot
	x := b.Arg(v)                          // read the parameter where it is needed
	b.BranchFail(w, GEU, V(x), notGreater) // leave with status 1, nothing stored
	b.Commit(8, At(s, 0), x)               // the commit: *slot = v
	return b
}

func TestReadmeExample(t *testing.T) {
	op, err := LoadMaxStore().Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", op)
}

package rseqop

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestHaveAsmConstraints: haveAsm is declared in the thread word files,
// which must build exactly where the generator's assembly declarations do
// (percpu's, as an instance).
func TestHaveAsmConstraints(t *testing.T) {
	for gen, hand := range map[string]string{"../percpu/zops_asm.go": "threadword_asm.go", "../percpu/zops_noasm.go": "threadword_noasm.go"} {
		if g, h := buildConstraint(t, gen), buildConstraint(t, hand); g != h {
			t.Errorf("%s builds under %q but %s under %q", hand, h, gen, g)
		}
	}
}

func buildConstraint(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no sources here (a VM runs the test binary alone): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(src)) {
		if c, ok := strings.CutPrefix(line, "//go:build "); ok {
			return strings.TrimSpace(c)
		}
	}
	t.Fatalf("%s has no //go:build line", name)
	return ""
}

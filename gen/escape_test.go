package gen

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gorseq/rseq/gen/internal/golang"
	. "github.com/gorseq/rseq/gen/ir"
)

// escapeCase is an op and the parameters whose arguments it must let
// escape (ir.Op.Escapes).
type escapeCase struct {
	op     *Op
	escape []string
}

// escapeCases has one op per way a pointer argument can outlive the call
// (every statement that can store a pointer, results, Copy, a hot op's slow
// path) and ops that only read through their pointers or use them as
// addresses, which must stay //go:noescape.
func escapeCases(t *testing.T) []escapeCase {
	t.Helper()
	mk := func(name string, hot *Hot, escape []string, body func(b *Builder)) escapeCase {
		b := New(name, "is a test op.")
		if hot != nil {
			b.Hot(*hot)
		} else {
			b.Param("limit", Word)
		}
		body(b)
		op, err := b.Build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return escapeCase{op, escape}
	}
	slot := func(b *Builder, base int) Value { return b.Add(b.Arg(base), V(b.ALU(Shl, b.Idx(), Imm(3)))) }
	return []escapeCase{
		mk("StoreArg", nil, []string{"x"}, func(b *Builder) {
			base, x := b.Param("base", Ptr), b.Param("x", Ptr)
			s := slot(b, base)
			b.Store(8, At(s, 8), b.Arg(x))
			b.Commit(8, At(s, 0), b.Add(b.Load(Word, 8, At(s, 0)), Imm(1)))
		}),
		mk("StoreHeap", nil, []string{"x"}, func(b *Builder) {
			base, x, wb := b.Param("base", Ptr), b.Param("x", Ptr), b.Param("wb", Ptr)
			b.FailIfWriteBarrier(wb, b.Fail("write barrier on"))
			s := slot(b, base)
			b.StoreHeapPointer(At(s, 8), b.Arg(x))
			b.Commit(8, At(s, 0), b.Add(b.Load(Word, 8, At(s, 0)), Imm(1)))
		}),
		mk("CommitArg", nil, []string{"x"}, func(b *Builder) {
			base, x := b.Param("base", Ptr), b.Param("x", Ptr)
			b.Commit(8, At(slot(b, base), 0), b.Arg(x))
		}),
		mk("CommitDerived", nil, []string{"x"}, func(b *Builder) {
			base, x := b.Param("base", Ptr), b.Param("x", Ptr)
			b.Commit(8, At(slot(b, base), 0), b.Add(b.Arg(x), Imm(16)))
		}),
		mk("CommitLoaded", nil, []string{"p"}, func(b *Builder) {
			base, p := b.Param("base", Ptr), b.Param("p", Ptr)
			b.Commit(8, At(slot(b, base), 0), b.Load(Ptr, 8, At(b.Load(Ptr, 8, At(b.Arg(p), 0)), 8)))
		}),
		mk("CopyFrom", nil, []string{"src"}, func(b *Builder) {
			base, src, n := b.Param("base", Ptr), b.Param("src", Ptr), b.Param("n", Word)
			s := slot(b, base)
			b.Copy(b.Add(s, Imm(8)), b.Arg(src), b.Arg(n))
			b.Commit(8, At(s, 0), b.Arg(n))
		}),
		mk("ReturnArg", nil, []string{"x"}, func(b *Builder) {
			base, x := b.Param("base", Ptr), b.Param("x", Ptr)
			xv := b.Arg(x)
			b.Commit(8, At(slot(b, base), 0), b.Load(Word, 8, At(b.Arg(base), 0)))
			b.Result("r", xv)
		}),
		mk("ReturnLoaded", nil, []string{"base"}, func(b *Builder) {
			base := b.Param("base", Ptr)
			s := slot(b, base)
			p := b.Load(Ptr, 8, At(s, 8))
			b.Commit(8, At(s, 0), b.Load(Word, 8, At(s, 0)))
			b.Result("r", p)
		}),
		// Pointers read through, compared, used as addresses and as the
		// write barrier flag: nothing outlives the call.
		mk("Borrow", nil, nil, func(b *Builder) {
			base, p, q, wb := b.Param("base", Ptr), b.Param("p", Ptr), b.Param("q", Ptr), b.Param("wb", Ptr)
			b.FailIfWriteBarrier(wb, b.Fail("write barrier on"))
			s := slot(b, base)
			b.BranchFail(b.Load(Ptr, 8, At(s, 8)), EQ, V(b.Arg(q)), b.Fail("slot holds q"))
			w := b.Load(Word, 8, At(b.Load(Ptr, 8, At(b.Arg(p), 0)), 0))
			b.Commit(8, At(s, 0), w)
		}),
		mk("HotKeep", &Hot{Func: "hotKeep", Slow: "hotKeepSlow", Limit: "hotSlots"}, []string{"p", "x"}, func(b *Builder) {
			p := b.Param("p", Ptr)
			b.Param("x", Ptr)
			s := slot(b, p)
			b.Commit(8, At(s, 0), b.Add(b.Load(Word, 8, At(s, 0)), Imm(1)))
		}),
		mk("HotBorrow", &Hot{Func: "hotBorrow", Slow: "hotBorrowSlow", Limit: "hotSlots", SlowBorrows: []string{"p"}}, nil, func(b *Builder) {
			p, delta := b.Param("p", Ptr), b.Param("delta", Int)
			b.CommitAdd(8, At(slot(b, p), 0), b.Arg(delta))
		}),
	}
}

// TestEscapesByStatement: Escapes names exactly the parameters each way of
// keeping a pointer reaches, and the generated declaration is //go:noescape
// exactly when it names none.
func TestEscapesByStatement(t *testing.T) {
	cases := escapeCases(t)
	var all []*Op
	for _, c := range cases {
		var got []string
		for _, e := range c.op.Escapes() {
			got = append(got, e.Param)
			if !strings.Contains(e.Why, e.Param) {
				t.Errorf("%s: reason %q does not name %s", c.op.Name, e.Why, e.Param)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.escape) {
			t.Errorf("%s: Escapes = %v, want %v\n%s", c.op.Name, got, c.escape, c.op)
		}
		all = append(all, c.op)
	}
	fns := Functions(all)
	src, err := golang.Asm(fns, golang.Target{Package: "p", Path: "p", Generator: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		decl := regexp.MustCompile(`(?m)((?://.*\n)*)func ` + fn.Name() + `\(`).FindStringSubmatch(string(src))
		if decl == nil {
			t.Fatalf("no declaration of %s in:\n%s", fn.Name(), src)
		}
		if has, want := strings.Contains(decl[1], "//go:noescape\n"), fn.NoEscape(); has != want {
			t.Errorf("%s: //go:noescape present = %v, want %v:\n%s", fn.Name(), has, want, decl[0])
		}
	}
}

func TestSlowBorrowsValidated(t *testing.T) {
	for _, c := range []struct {
		borrows []string
		want    string
	}{
		{[]string{"q"}, "not a parameter"},
		{[]string{"delta"}, "only Ptr parameters"},
		{[]string{"p", "p"}, "twice"},
	} {
		b := New("HotBad", "is a test op.")
		b.Hot(Hot{Func: "hotBad", Slow: "hotBadSlow", Limit: "hotSlots", SlowBorrows: c.borrows})
		p, delta := b.Param("p", Ptr), b.Param("delta", Int)
		b.CommitAdd(8, At(b.Arg(p), 0), b.Arg(delta))
		if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SlowBorrows %v: err = %v, want %q", c.borrows, err, c.want)
		}
	}
}

// escapeSlowPaths are the hot test ops' slow paths: hotKeepSlow keeps its
// x, hotBorrowSlow only borrows p (badBorrowSlow: p escapes, against the
// op's SlowBorrows).
const (
	escapeSlowPaths = `package scratch

import "unsafe"

var (
	hotSlots uintptr
	kept     unsafe.Pointer
)

func hotKeepSlow(p, x unsafe.Pointer) { kept = x }

func hotBorrowSlow(p unsafe.Pointer, delta int64) { *(*int64)(p) += delta }
`
	badBorrowSlow = `
func hotBorrowSlow(p unsafe.Pointer, delta int64) { *(*int64)(p) += delta; kept = p }
`
	wrongResultsSlow = `
func hotBorrowSlow(p unsafe.Pointer, delta int64) (int64, int64) { return 0x7777, 0x6666 }
`
)

// escapeCallers writes, for every generated function, a caller that passes
// a fresh object to each pointer parameter, one argument a line, and
// returns the file and the parameter each line passes.
func escapeCallers(fns []*Function) ([]byte, map[int]string) {
	var b strings.Builder
	lines := map[int]string{}
	line := 1
	w := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
		line++
	}
	w("package scratch")
	w("")
	w(`import "unsafe"`)
	w("")
	w("type obj struct{ a, b [4]uintptr }")
	for _, fn := range fns {
		params, _, _ := fn.Frame()
		w("")
		w("func call%s() {", fn.Name())
		w("\t%s(", fn.Name())
		for _, p := range params {
			if p.GoType == "unsafe.Pointer" {
				lines[line] = fn.Name() + "." + p.Name
				w("\t\tunsafe.Pointer(new(obj)),")
			} else {
				w("\t\t0,")
			}
		}
		w("\t)")
		w("}")
	}
	return []byte(b.String()), lines
}

// TestEscapeAnnotationsCompile generates the escape cases into a package of
// another module and asks the compiler (-gcflags=-m, amd64 and arm64) about
// each caller's objects: an argument an op may keep escapes to the heap,
// one a //go:noescape op only reads stays on the caller's stack. Then
// rseqoptest.CheckEscapes passes in that package's tests, and fails once a
// hot op's slow path keeps an argument the op's SlowBorrows claims it only
// borrows.
func TestEscapeAnnotationsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a scratch module")
	}
	var all []*Op
	keeps := map[*Op]bool{}
	for _, c := range escapeCases(t) {
		all = append(all, c.op)
		keeps[c.op] = len(c.escape) > 0
	}
	fns := Functions(all)
	kept := map[string]bool{}
	for _, fn := range fns {
		params, _, _ := fn.Frame()
		for _, p := range params {
			// The annotation is per function: one kept argument makes
			// every pointer argument escape.
			kept[fn.Name()+"."+p.Name] = keeps[fn.Op]
		}
	}
	files, err := generateFiles(all, golang.Target{Package: "scratch", Path: "scratch", Generator: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	callers, lines := escapeCallers(fns)
	files["callers.go"] = callers
	files["slow.go"] = []byte(escapeSlowPaths)
	files["escape_test.go"] = []byte("package scratch\n\nimport (\n\t\"testing\"\n\n\t\"github.com/gorseq/rseq/rseqop/rseqoptest\"\n)\n\nfunc TestEscapes(t *testing.T) { rseqoptest.CheckEscapes(t, zopPackage) }\n")
	dir := scratchModule(t, "scratch", files)
	for _, arch := range []string{"amd64", "arm64"} {
		out, err := goIn(dir, []string{"GOOS=linux", "GOARCH=" + arch, "CGO_ENABLED=0"}, "build", "-gcflags=-m", ".")
		if err != nil {
			t.Fatalf("GOARCH=%s: %v\n%s", arch, err, out)
		}
		for line, param := range lines {
			re := regexp.MustCompile(`(?m)^\S*callers\.go:` + fmt.Sprint(line) + `:\d+: new\(obj\) (escapes to heap|does not escape)$`)
			m := re.FindStringSubmatch(string(out))
			switch {
			case m == nil:
				t.Errorf("GOARCH=%s: no verdict on the object passed to %s (callers.go:%d)", arch, param, line)
			case (m[1] == "escapes to heap") != kept[param]:
				t.Errorf("GOARCH=%s: the object passed to %s: %s (want escaping = %v)", arch, param, m[1], kept[param])
			}
		}
	}
	if out, err := goIn(dir, nil, "test", "-count=1", "-run", "TestEscapes", "."); err != nil {
		t.Fatalf("rseqoptest.CheckEscapes fails on correct annotations: %v\n%s", err, out)
	}
	slow := filepath.Join(dir, "slow.go")
	if err := os.WriteFile(slow, []byte(strings.Replace(escapeSlowPaths, "\nfunc hotBorrowSlow(p unsafe.Pointer, delta int64) { *(*int64)(p) += delta }\n", badBorrowSlow, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := goIn(dir, nil, "test", "-count=1", "-run", "TestEscapes", ".")
	if err == nil || !strings.Contains(string(out), "its slow path hotBorrowSlow lets parameter p escape") {
		t.Errorf("a slow path that keeps a borrowed argument: err = %v, want CheckEscapes to fail:\n%s", err, out)
	}
	// A slow path edited after generation to other results: the generated
	// assertion stops the build.
	if err := os.WriteFile(slow, []byte(strings.Replace(escapeSlowPaths, "\nfunc hotBorrowSlow(p unsafe.Pointer, delta int64) { *(*int64)(p) += delta }\n", wrongResultsSlow, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = goIn(dir, []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}, "build", ".")
	if err == nil || !strings.Contains(string(out), "cannot use hotBorrowSlow") {
		t.Errorf("a slow path with other results: err = %v, want the build to fail on the assertion:\n%s", err, out)
	}
}

// TestGenerateRefusesSlowPathSignature: Generate reads the package's slow
// paths and refuses a hot op whose slow path differs from it, naming both
// signatures, or that the package does not declare.
func TestGenerateRefusesSlowPathSignature(t *testing.T) {
	var hot *Op
	for _, c := range escapeCases(t) {
		if c.op.Name == "HotBorrow" {
			hot = c.op
		}
	}
	for _, c := range []struct{ slow, want string }{
		{wrongResultsSlow, "slow path hotBorrowSlow has signature func(p unsafe.Pointer, delta int64) (int64, int64), not the op's func(p unsafe.Pointer, delta int64)"},
		{"\nfunc hotBorrowSlow(p unsafe.Pointer, delta uintptr) {}\n", "slow path hotBorrowSlow has signature func(p unsafe.Pointer, delta uintptr)"},
		{"\nvar _ unsafe.Pointer\n", "its slow path hotBorrowSlow is not a function of package example.com/m"},
		{"\nfunc hotBorrowSlow(p unsafe.Pointer, delta int64) {}\n", ""},
	} {
		dir := t.TempDir()
		for name, src := range map[string]string{
			"go.mod": "module example.com/m\n\ngo 1.26\n",
			"p.go":   "package m\n\nimport \"unsafe\"\n" + c.slow,
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Generate(Config{Dir: dir, Ops: []*Op{hot}})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("matching slow path: %v", err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("slow path %q: err = %v, want %q", c.slow, err, c.want)
		}
	}
}

package rseqoptest

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gorseq/rseq/rseqop"
)

// escapeArches are the architectures with generated assembly, whose Go
// declarations (zops_asm.go) CheckEscapes compiles.
var escapeArches = []string{"amd64", "arm64"}

// CheckEscapes proves, from the Go compiler's own escape analysis
// (go build -gcflags=-m, for linux/amd64 and linux/arm64), the escape
// annotations of the generated ops of package pkg (an import path; the
// package must have registered its ops, which its tests' binary has done at
// init), whose source is in the current directory (go test runs a
// package's tests there):
//
//   - every op declared //go:noescape (rseqop.Func.NoEscape) has all its
//     pointer parameters reported as not escaping, and every other op has
//     them reported as leaking: the declarations are what the generator
//     derived from the ops (a hand edit that adds //go:noescape fails);
//   - every hot op declared //go:noescape has a slow path whose pointer
//     parameters the compiler reports as not escaping: the assembly hands
//     its arguments to the slow path, so a slow path that keeps one (stores
//     it, returns it or what it points to) makes the annotation a lie, and
//     the caller's object could live on a stack that is then reused.
//
// It skips where there is no go command (a test binary in a VM).
func CheckEscapes(tb testing.TB, pkg string) {
	tb.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("rseqoptest: no go command to run the compiler's escape analysis")
	}
	var funcs []rseqop.OpStat
	for _, s := range rseqop.OpStats() {
		if s.Package == pkg {
			funcs = append(funcs, s)
		}
	}
	if len(funcs) == 0 {
		tb.Fatalf("rseqoptest: package %s registered no ops", pkg)
	}
	for _, arch := range escapeArches {
		b, err := compileForEscapes(gobin, arch)
		if err != nil {
			tb.Fatalf("rseqoptest: GOARCH=%s: %v", arch, err)
		}
		for _, f := range funcs {
			for _, msg := range b.check(f) {
				tb.Errorf("GOARCH=%s: %s", arch, msg)
			}
		}
	}
}

// escapeBuild is one compilation of the package in the current directory
// with -gcflags=-m: its function declarations and the compiler's messages
// by position ("file.go:line:col").
type escapeBuild struct {
	fset   *token.FileSet
	decls  map[string][]*ast.FuncDecl // by name: one per build-tagged file that declares it
	report map[string][]string
}

// compileForEscapes compiles the package in the current directory for
// linux/arch with -gcflags=-m.
func compileForEscapes(gobin, arch string) (*escapeBuild, error) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = "linux", arch, false
	bp, err := ctx.ImportDir(".", 0)
	if err != nil {
		return nil, err
	}
	b := &escapeBuild{fset: token.NewFileSet(), decls: map[string][]*ast.FuncDecl{}, report: map[string][]string{}}
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(b.fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				b.decls[fd.Name.Name] = append(b.decls[fd.Name.Name], fd)
			}
		}
	}
	cmd := exec.Command(gobin, "build", "-gcflags=-m", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go build -gcflags=-m: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`^(?:\./)?([^:\s]+\.go):(\d+):(\d+): (.*)$`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			key := filepath.Base(m[1]) + ":" + m[2] + ":" + m[3]
			b.report[key] = append(b.report[key], m[4])
		}
	}
	return b, nil
}

// verdict is what the compiler said of one parameter.
type verdict struct {
	param string
	leaks bool   // "leaking param: p" or "leaking param content: p"
	msg   string // the message
}

// params returns the compiler's verdict on every named parameter of d that
// it reported on (those with pointers).
func (b *escapeBuild) params(d *ast.FuncDecl) []verdict {
	var vs []verdict
	for _, field := range d.Type.Params.List {
		for _, id := range field.Names {
			pos := b.fset.Position(id.Pos())
			key := fmt.Sprintf("%s:%d:%d", filepath.Base(pos.Filename), pos.Line, pos.Column)
			for _, m := range b.report[key] {
				switch {
				case m == id.Name+" does not escape":
					vs = append(vs, verdict{id.Name, false, m})
				case strings.HasPrefix(m, "leaking param"):
					vs = append(vs, verdict{id.Name, true, m})
				}
			}
		}
	}
	return vs
}

// check returns what is wrong with f's declaration and, for a hot op, its
// slow path.
func (b *escapeBuild) check(f rseqop.OpStat) []string {
	var decl *ast.FuncDecl
	for _, d := range b.decls[f.Func] {
		if d.Body == nil {
			decl = d
		}
	}
	if decl == nil {
		return []string{fmt.Sprintf("%s: no assembly declaration (func without body) in the package", f.Func)}
	}
	vs := b.params(decl)
	if len(vs) == 0 {
		return []string{fmt.Sprintf("%s: the compiler reported nothing on its parameters", f.Func)}
	}
	var errs []string
	for _, v := range vs {
		if v.leaks == f.NoEscape {
			want := "leaking"
			if f.NoEscape {
				want = "not escaping"
			}
			errs = append(errs, fmt.Sprintf("%s: parameter %s: the compiler says %q, the generator derived %s (edited by hand? run go generate)", f.Func, v.param, v.msg, want))
		}
	}
	if f.Slow == "" || !f.NoEscape {
		return errs
	}
	found := false
	for _, d := range b.decls[f.Slow] {
		if d.Body == nil {
			continue
		}
		found = true
		for _, v := range b.params(d) {
			if v.leaks {
				errs = append(errs, fmt.Sprintf("hot op %s is declared //go:noescape, but its slow path %s lets parameter %s escape (the compiler says %q): the assembly hands the caller's argument to %s, so take %s out of Hot.SlowBorrows, or keep %s from storing or returning it", f.Func, f.Slow, v.param, v.msg, f.Slow, v.param, f.Slow))
			}
		}
	}
	if !found {
		errs = append(errs, fmt.Sprintf("hot op %s: no Go function %s (its slow path) in the package", f.Func, f.Slow))
	}
	return errs
}

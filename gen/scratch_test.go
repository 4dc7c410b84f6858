package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// scratchModule writes files into a new module named module in a
// temporary directory: a module of its own that requires gorseq's checkout
// (replace), with gorseq's go.sum, so that generated files are built and
// run the way another module would. It returns the directory.
func scratchModule(t *testing.T, module string, files Files) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod := "module " + module + "\n\ngo 1.26\n\nrequire (\n\tgithub.com/gorseq/rseq v0.0.0\n\tgolang.org/x/sys v0.50.0\n)\n\nreplace github.com/gorseq/rseq => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	all := Files{"go.mod": []byte(mod), "go.sum": sum}
	for name, b := range files {
		all[name] = b
	}
	for name, b := range all {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goIn runs the go command in dir, offline, with env added.
func goIn(dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off"), env...)
	return cmd.CombinedOutput()
}

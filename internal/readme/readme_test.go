package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEPrograms: the README's install steps (go mod edit -require
// -replace to a checkout, go mod tidy; for a program that imports promrseq,
// the promrseq section's steps) in a new module beside a checkout,
// then every ```go block of the README, each a whole program, built and run
// there; its output must contain what its comments after "//" on a
// fmt.Println line promise when they are literal values (e.g. "// 8000 8000
// 0").
func TestREADMEPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own (and may reach the module proxy)")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("no Go program in the README")
	}
	steps := regexp.MustCompile("(?s)## Install.*?```sh\n(.*?)```").FindStringSubmatch(string(readme))
	if steps == nil {
		t.Fatal("no install steps in the README")
	}
	// A program that imports promrseq runs the promrseq section's steps
	// instead (they require both modules before go mod tidy).
	promSteps := regexp.MustCompile("(?s)## Prometheus metrics: promrseq.*?```sh\n(.*?)```").FindStringSubmatch(string(readme))
	if promSteps == nil {
		t.Fatal("no promrseq install steps in the README")
	}
	// The work area: a checkout at ../gorseq beside the user's module, as
	// the steps assume (a symlink to this checkout instead of the clone).
	work := t.TempDir()
	if err := os.Symlink(root, filepath.Join(work, "gorseq")); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		prog := b[1]
		dir := filepath.Join(work, "app"+string(rune('a'+i)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		run := func(name string, args ...string) string {
			t.Helper()
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("program %d: %s %s: %v\n%s", i+1, name, strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		run(gobin, "mod", "init", "example.com/app")
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644); err != nil {
			t.Fatal(err)
		}
		install := steps[1]
		if strings.Contains(prog, `"github.com/gorseq/rseq/promrseq"`) {
			install = promSteps[1]
		}
		for _, line := range strings.Split(strings.TrimSpace(install), "\n") {
			line = strings.TrimSpace(strings.SplitN(line, "#", 2)[0])
			if line == "" || strings.HasPrefix(line, "git clone") {
				continue // the checkout is already there
			}
			f := strings.Fields(line)
			if f[0] != "go" {
				t.Fatalf("install step %q is not a go command", line)
			}
			run(gobin, f[1:]...)
		}
		out := run(gobin, "run", ".")
		for _, want := range promised(prog) {
			if !strings.Contains(out, want) {
				t.Errorf("program %d printed %q; its comment promises %q", i+1, out, want)
			}
		}
		t.Logf("program %d:\n%s", i+1, out)
	}
}

// promised returns the literal outputs a program's comments promise: the
// comment after a fmt.Println call when it is made of numbers, brackets and
// spaces.
func promised(prog string) []string {
	var out []string
	re := regexp.MustCompile(`fmt\.Println\(.*\) // ([0-9\[\] ]+)$`)
	for _, line := range strings.Split(prog, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			out = append(out, strings.TrimSpace(m[1]))
		}
	}
	return out
}

package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEPrograms: for each README that shows programs (the project's
// and promrseq's), its install steps (go mod edit -require -replace to a
// checkout, go mod tidy) in a new module beside a checkout, then every
// ```go block of that README, each a whole program, built and run there; its
// output must contain what its comments after "//" on a fmt.Println line
// promise when they are literal values (e.g. "// 8000 8000 0").
func TestREADMEPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds modules of its own (and may reach the module proxy)")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The work area: a checkout at ../gorseq beside the user's module, as
	// the steps assume (a symlink to this checkout instead of the clone).
	work := t.TempDir()
	if err := os.Symlink(root, filepath.Join(work, "gorseq")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"README.md", "promrseq/README.md"} {
		t.Run(name, func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
			if len(blocks) == 0 {
				t.Fatal("no Go program")
			}
			steps := regexp.MustCompile("(?s)## Install.*?```sh\n(.*?)```").FindStringSubmatch(string(readme))
			if steps == nil {
				t.Fatal("no install steps")
			}
			for i, b := range blocks {
				dir := filepath.Join(work, strings.NewReplacer("/", "-", ".", "-").Replace(name)+"-"+strconv.Itoa(i+1))
				runProgram(t, gobin, dir, steps[1], b[1], i+1)
			}
		})
	}
}

// runProgram makes a module in dir, runs the install steps there, then runs
// prog and checks what its comments promise.
func runProgram(t *testing.T, gobin, dir, install, prog string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("program %d: %s %s: %v\n%s", n, name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(gobin, "mod", "init", "example.com/app")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
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
			t.Errorf("program %d printed %q; its comment promises %q", n, out, want)
		}
	}
	t.Logf("program %d:\n%s", n, out)
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

package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEWalkthrough runs README.md's walk-through literally: its shell
// steps (the checkout is a symlink at ../gorseq, where step 1 expects it)
// and its Go files (each block that starts with "// file: PATH"), in a new
// module outside the repository. Every go command of the steps must
// succeed: generation, vet for amd64 and arm64, build.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own (and may reach the module proxy)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	walk := string(readme)
	walk = walk[strings.Index(walk, "## Walk-through"):strings.Index(walk, "## Layout")]
	work := t.TempDir()
	if err := os.Symlink(root, filepath.Join(work, "gorseq")); err != nil {
		t.Fatal(err)
	}
	dir := work
	block := regexp.MustCompile("(?s)```(sh|go)\n(.*?)```")
	indent := regexp.MustCompile(`(?m)^   `)
	ran := 0
	for _, b := range block.FindAllStringSubmatch(walk, -1) {
		text := indent.ReplaceAllString(b[2], "")
		if b[1] == "go" {
			first, rest, _ := strings.Cut(text, "\n")
			path, ok := strings.CutPrefix(first, "// file: ")
			if !ok {
				t.Fatalf("a Go block without its file name:\n%s", text)
			}
			p := filepath.Join(dir, path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(strings.TrimLeft(rest, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			f := strings.Fields(line)
			var env []string
			for len(f) > 0 && strings.Contains(f[0], "=") {
				env, f = append(env, f[0]), f[1:]
			}
			switch f[0] {
			case "mkdir":
				if err := os.MkdirAll(filepath.Join(dir, f[len(f)-1]), 0o755); err != nil {
					t.Fatal(err)
				}
				if len(f) > 3 && f[2] == "&&" && f[3] == "cd" {
					dir = filepath.Join(dir, f[len(f)-1])
				}
			case "go":
				cmd := exec.Command("go", f[1:]...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), env...)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", line, err, out)
				}
				ran++
			default:
				t.Fatalf("a step the test cannot run: %q", line)
			}
		}
	}
	if ran < 7 {
		t.Fatalf("ran %d go commands, the walk-through has more", ran)
	}
	if _, err := os.Stat(filepath.Join(dir, "pmax", "zops_amd64.s")); err != nil {
		t.Errorf("go generate wrote no zops_amd64.s: %v", err)
	}
}

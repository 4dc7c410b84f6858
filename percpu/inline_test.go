package percpu

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestHotPathsInline asserts that Counter.Add/Inc/Dec, Float64Counter.Add and Pool.Get/Put
// inline into their callers (one call of a generated hot op, no Go call on
// top), from the compiler's own report (-gcflags=-m) on a small user
// package, so that a change that makes one of them too costly for the
// inliner fails here instead of silently slowing every caller down.
func TestHotPathsInline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command(gobin, "build", "-gcflags=-m", "./testdata/inlineuser")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	report := string(out)
	for _, c := range []struct{ caller, callee string }{
		{"CounterAdd", `percpu\.\(\*Counter\)\.Add`},
		{"CounterInc", `percpu\.\(\*Counter\)\.Inc`},
		{"CounterInc", `percpu\.\(\*Counter\)\.Add`},
		{"CounterDec", `percpu\.\(\*Counter\)\.Dec`},
		{"CounterDec", `percpu\.\(\*Counter\)\.Add`},
		{"Float64Add", `percpu\.\(\*Float64Counter\)\.Add`},
		{"PoolGet", `percpu\.\(\*Pool\[[^\n]*\]\)\.Get`},
		{"PoolPut", `percpu\.\(\*Pool\[[^\n]*\]\)\.Put`},
	} {
		line := callerLine(t, c.caller)
		re := regexp.MustCompile(`(?m)^(percpu/)?testdata/inlineuser/user\.go:` + line + `:\d+: inlining call to ` + c.callee + `$`)
		if !re.MatchString(report) {
			t.Errorf("%s does not inline %s (want a line matching %s in:\n%s)", c.caller, c.callee, re, grepLines(report, "user.go"))
		}
	}
}

// callerLine returns the line of func name in testdata/inlineuser/user.go.
func callerLine(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("grep", "-n", "^func "+name+"(", "testdata/inlineuser/user.go").Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("no func %s in testdata/inlineuser/user.go: %v", name, err)
	}
	return strings.SplitN(string(out), ":", 2)[0]
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Package vmtest runs Go test binaries on real Linux kernels in qemu: it
// packs the binaries and a small static init program into an initramfs,
// boots a kernel on it with qemu-system-*, and reads the results from the
// serial console. The init program (cmd/vminit) and the host program
// (cmd/vmtest) share the types and line formats defined here.
package vmtest

import (
	"fmt"
	"strconv"
	"strings"
)

// PlanPath is where the host puts the Plan (JSON) inside the initramfs.
const PlanPath = "/vmtest.json"

// EnvVM is set for every program the init runs: VMPlainTCG, or
// VMOneInsnPerTB when the VM runs with Machine.OneInsnPerTB. rseqoptest
// reads it under the same names (EnvVMTest, VMTestPlainTCG,
// VMTestOneInsnPerTB; a test ties them): plain TCG takes interrupts only
// between translation blocks, so AbortRestart requires an abort only with
// one instruction per block.
const (
	EnvVM          = "GORSEQ_VMTEST"
	VMPlainTCG     = "tcg"
	VMOneInsnPerTB = "tcg-one-insn-per-tb"
)

// Plan tells the init program what to run.
type Plan struct {
	Env  []string `json:"env"`  // KEY=VALUE for every run
	Runs []Run    `json:"runs"` // in order
}

// Run is one program the init runs, with its stdout and stderr on the console.
type Run struct {
	Name           string   `json:"name"`
	Path           string   `json:"path"` // inside the initramfs
	Dir            string   `json:"dir"`  // working directory ("" = /)
	Args           []string `json:"args"`
	TimeoutSeconds int      `json:"timeout_seconds"` // 0 = none; the init kills the run after it
}

// Console line prefixes. Every line the init prints about the VM starts with
// one of them, so the host can find them among the tests' own output.
const (
	InfoPrefix   = "VMTEST-INFO: "   // what the kernel offers: release, CPUs, auxv, rseq self-check
	ResultPrefix = "VMTEST-RESULT: " // one per run: name=... exit=N seconds=S
	DonePrefix   = "VMTEST-DONE: "   // last line: runs=N failed=K
)

// Result is a parsed ResultPrefix line.
type Result struct {
	Name    string
	Exit    int // -1: killed (timeout or signal), or could not start
	Seconds float64
}

// FormatResult returns the console line for r.
func FormatResult(r Result) string {
	return fmt.Sprintf("%sname=%s exit=%d seconds=%.1f", ResultPrefix, r.Name, r.Exit, r.Seconds)
}

// ParseResult parses a line written by FormatResult.
func ParseResult(line string) (Result, bool) {
	rest, ok := strings.CutPrefix(line, ResultPrefix)
	if !ok {
		return Result{}, false
	}
	var r Result
	seen := 0
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "name":
			r.Name = v
			seen++
		case "exit":
			r.Exit, err = strconv.Atoi(v)
			seen++
		case "seconds":
			r.Seconds, err = strconv.ParseFloat(v, 64)
		}
		if err != nil {
			return Result{}, false
		}
	}
	return r, seen == 2
}

// FormatDone returns the final console line.
func FormatDone(runs, failed int) string {
	return fmt.Sprintf("%sruns=%d failed=%d", DonePrefix, runs, failed)
}

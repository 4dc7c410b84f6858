package rseqoptest

import "time"

// Options says which counter proves aborts and how long to wait for them.
type Options struct {
	// Aborts reads the abort counter of the op that the loop runs.
	// Required.
	Aborts func() uint64
	// Want is how many aborts end the loop (default 1). The test fails
	// only if there was none: one abort already proves the path.
	Want uint64
	// Max bounds the loop (default 60 s).
	Max time.Duration
}

// Result tells what AbortRestart saw.
type Result struct {
	Aborts     uint64        // how far the abort counter moved
	Interrupts int64         // fences and signals sent to the loop's thread
	Elapsed    time.Duration // time the loop ran
}

// The environment variable gorseq's VM harness (internal/vmtest) sets in
// its guests, and its values: plain TCG takes interrupts only between
// translation blocks, TCG with one instruction per block on any
// instruction.
const (
	EnvVMTest          = "GORSEQ_VMTEST"
	VMTestPlainTCG     = "tcg"
	VMTestOneInsnPerTB = "tcg-one-insn-per-tb"
)

// PlainTCGMax bounds AbortRestart's loop under plain TCG, where it checks
// the loop's model without requiring an abort.
const PlainTCGMax = 3 * time.Second

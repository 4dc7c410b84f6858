//go:build !linux

package rseqoptest

import "testing"

// AbortRestart skips the test: rseq exists only on Linux.
func AbortRestart(tb testing.TB, opts Options, loop func(enough func() bool) error) Result {
	tb.Helper()
	tb.Skip("rseqoptest: rseq critical sections exist only on Linux")
	return Result{}
}

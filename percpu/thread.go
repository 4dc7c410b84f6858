package percpu

import "github.com/gorseq/rseq/rseqop"

// Thread registration lives in package rseqop, the runtime every package of
// generated ops shares; these are its names as percpu has always offered
// them.

// Errors of thread registration.
var (
	// ErrUnavailable: the process runs in ModeNone; Status().Reason says why.
	ErrUnavailable = rseqop.ErrUnavailable
	// ErrPinned: Release was called while a Pin on this thread is active;
	// the registration is released by the last Unpin instead.
	ErrPinned = rseqop.ErrPinned
)

// Thread is a pinned OS thread, returned by Pin (rseqop.Thread). Its
// methods must be called from the goroutine that pinned it, before Unpin.
type Thread = rseqop.Thread

// Pin locks the calling goroutine to its OS thread, makes sure the thread
// has a registered rseq area and takes a reference on the registration
// (rseqop.Pin). Pins nest; each must be undone by Unpin. Pin never fails:
// where rseq is unavailable the Thread reports Err and reads its CPU with a
// system call.
func Pin() Thread { return rseqop.Pin() }

// Release gives up the library's registration of the calling thread
// (rseqop.Release): it never unregisters what the library does not own, and
// with a Pin active on the thread it returns ErrPinned and releases at the
// last Unpin. A later per-CPU operation on the thread registers it again.
func Release() error { return rseqop.Release() }

// ThreadInfo describes one thread the library knows (rseqop.ThreadInfo).
type ThreadInfo = rseqop.ThreadInfo

// Threads lists the live threads the library has registered or found
// stray, ordered by thread id (rseqop.Threads).
func Threads() []ThreadInfo { return rseqop.Threads() }

// ProcessStatus describes how this process uses rseq (rseqop.ProcessStatus).
type ProcessStatus = rseqop.ProcessStatus

// Status reports how this process uses rseq. FastPath and Reason are
// percpu's: the fast path is on when threads can register and percpu's own
// generated critical sections passed validation.
func Status() ProcessStatus {
	s := rseqop.Status()
	s.FastPath, s.Reason = proc.fastPath, proc.reason
	return s
}

// OpStat describes one generated per-CPU operation (rseqop.OpStat).
type OpStat = rseqop.OpStat

// OpStats lists percpu's generated per-CPU operations with their
// descriptors and abort counts, in the order of the generated op table
// (rseqop.OpStats lists every package's).
func OpStats() []OpStat {
	var out []OpStat
	for _, s := range rseqop.OpStats() {
		if s.Package == zopPackage {
			out = append(out, s)
		}
	}
	return out
}

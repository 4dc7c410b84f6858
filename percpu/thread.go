package percpu

import "github.com/gorseq/rseq/rseqop"

// Thread registration, the process mode and the thread list are package
// rseqop's, the runtime every package of generated ops shares (rseqop.Pin,
// rseqop.Release, rseqop.Threads, rseqop.Mode); percpu adds what is its
// own: whether its critical sections run, and their statistics.

// Status reports how this process uses rseq (rseqop.Status), with FastPath
// and Reason percpu's: the fast path is on when threads can register and
// percpu's own generated critical sections passed validation.
func Status() rseqop.ProcessStatus {
	s := rseqop.Status()
	s.FastPath, s.Reason = proc.fastPath, proc.reason
	return s
}

// OpStats lists percpu's generated per-CPU operations with their
// descriptors and abort counts, in the order of the generated op table
// (rseqop.OpStats lists every package's).
func OpStats() []rseqop.OpStat {
	var out []rseqop.OpStat
	for _, s := range rseqop.OpStats() {
		if s.Package == zopPackage {
			out = append(out, s)
		}
	}
	return out
}

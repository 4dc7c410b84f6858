// Package benchfloor holds the floor of the benchmarks of gorseq's hot ops:
// an empty assembly function with Counter.Add's hot op signature. A Go call
// of it costs what the call of any hot op costs (the call, the return, and
// the caller reloading its fixed registers after an ABI0 call) and nothing
// else; the benchmarks report it as impl=asm-call-floor beside
// Counter.Add, and Get and Put (poolGet's and poolPut's frames) beside
// Pool's Get+Put pair. Only tests import it.
package benchfloor

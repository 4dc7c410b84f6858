// Package cbench measures what C does with the same per-CPU add Counter.Add
// does: a loop in C whose every iteration is one rseq critical section,
// inlined (no call), on glibc's registered area (thread pointer +
// __rseq_offset): read the index field (cpu_id or mm_cid, the one the Go
// side uses), bound-check it, add to the slot 4096 bytes per index apart (percpu's arena regions).
// percpu's benchmarks report it as impl=c-inlined beside Counter.Add, so the
// distance to C is measured in the same run, not quoted.
//
// The critical section is written here in GCC inline assembly, in the shape
// librseq uses (a struct rseq_cs descriptor in its own section, the abort
// signature before the abort handler in another, asm goto to leave): amd64
// only. It needs cgo and a glibc that registers rseq (2.35+); Available
// reports whether this build and thread can run it. Only tests import it
// (a package with cgo files cannot hold Go assembly, so it is separate).
package cbench

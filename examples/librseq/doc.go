// Package librseq is librseq's per-CPU operations, as gorseq's generator
// writes them into a package of your own: compare-and-store
// (rseq_load_cbne_store), add (rseq_load_add_store), the list pop
// (load_cbeq_store_add_load_store), the add through a pointer loaded inside
// the section (load_add_load_load_add_store), and the two-store and memcpy
// publish (load_cbne_store_store, load_cbne_memcpy_store), each indexed by
// cpu_id or mm_cid, with their portable fallbacks. The descriptions are
// gen/ops.Librseq().
//
// The package exports nothing. It is where librseq's ops run as critical
// sections in gorseq's tests, in every build mode and on arm64 in the VM
// (make test), and a worked example to copy from: a module that needs one
// of these ops copies its description into its own generator program
// (internal/genops), calls it with the status protocol as
// examples/percpumax does, and tests it as ops_test.go does: its semantics,
// and an exact model under rseqoptest.AbortRestart until the op has
// aborted.
//
// The store and memcpy variants store speculatively before the commit: an
// abort between the two leaves the bytes written although the slot word
// does not publish them, and the retry may run on another CPU. Only the
// commit publishes; their destination must be memory no reader trusts until
// the slot word says so (ops_test.go's records above a count).
package librseq

// Package rseqoptest helps the tests of a package of generated rseq ops
// prove what no concurrent stress test can promise: that an op's abort path
// ran and restarted its critical section correctly.
//
// A stress test with exact totals shows that nothing was lost or repeated,
// but it passes just as well if no section ever aborted. AbortRestart makes
// aborts happen: it runs the op in a tight loop on one registered thread
// while another thread interrupts exactly that thread, back to back, until
// the op's abort counter (rseqop.Aborts, or the generated package's own
// counters) has moved. The loop then checks its single-threaded model,
// which must hold exactly.
//
//	func TestAbortRestart(t *testing.T) {
//		if ok, err := FastPath(); !ok {
//			t.Skip(err)
//		}
//		rseqoptest.AbortRestart(t, rseqoptest.Options{
//			Aborts: func() uint64 { n, _ := rseqop.Aborts(pkgPath, "opMyOpCPU"); return n },
//		}, func(enough func() bool) error {
//			var n uint64
//			for !enough() {
//				for range 1000 {
//					myOp(...)
//					n++
//				}
//			}
//			return checkModel(n)
//		})
//	}
//
// Under emulation (qemu TCG), which takes interrupts only between
// translation blocks, an abort can take seconds: give Options.Max room.
package rseqoptest

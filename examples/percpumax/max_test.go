//go:build linux

package percpumax

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorseq/rseq/rseqop"
	"github.com/gorseq/rseq/rseqop/rseqoptest"
)

const pkgPath = "github.com/gorseq/rseq/examples/percpumax"

// TestStatus: where the build and make target say rseq must work
// (GORSEQ_EXPECT_MODE other than none), the op must have passed
// validation and run as a critical section.
func TestStatus(t *testing.T) {
	s := rseqop.Status()
	ok, err := FastPath()
	t.Logf("%v; percpumax fast path %v (%v)", s, ok, err)
	if expect := os.Getenv("GORSEQ_EXPECT_MODE"); expect != "" {
		if s.Mode.String() != expect {
			t.Errorf("mode %v, GORSEQ_EXPECT_MODE=%s", s.Mode, expect)
		}
		if expect != "none" && !ok {
			t.Errorf("LoadMaxStore does not run (%v), GORSEQ_EXPECT_MODE=%s expects it to", err, expect)
		}
	}
	found := 0
	for _, st := range rseqop.OpStats() {
		if st.Package == pkgPath {
			found++
			if ok && (st.Descriptor.StartIP == 0 || st.Descriptor.PostCommitOffset == 0) {
				t.Errorf("%s: fast path on, descriptor %+v", st.Func, st.Descriptor)
			}
		}
	}
	if found != 1 {
		t.Errorf("OpStats lists %d functions of %s, want 1", found, pkgPath)
	}
}

// TestGeneratedOpsEscape: the generated declarations' escape annotations
// are what the compiler's escape analysis finds (rseqoptest.CheckEscapes).
func TestGeneratedOpsEscape(t *testing.T) {
	rseqoptest.CheckEscapes(t, zopPackage)
}

// TestMaxSequential: the maximum of a few values, through whatever path
// this process uses.
func TestMaxSequential(t *testing.T) {
	var m Max
	if got := m.Load(); got != 0 {
		t.Fatalf("zero Max: %d", got)
	}
	for _, v := range []uint64{3, 1, 7, 7, 2, 1 << 40, 5} {
		m.Update(v)
	}
	if got := m.Load(); got != 1<<40 {
		t.Fatalf("Load = %d, want %d", got, uint64(1)<<40)
	}
}

// aborts is the abort count of the op Update uses, 0 if it is not
// registered (TestStatus fails then). Worker goroutines call it: it must
// not fail the test itself.
func aborts() uint64 {
	n, _ := rseqop.Aborts(pkgPath, "LoadMaxStore")
	return n
}

// TestMaxExactUnderStorm: workers (half of them on locked threads that
// migrate themselves between CPUs) update one Max with increasing values
// while a signal storm interrupts every thread, until the critical
// section has aborted (with the fast path on) and every worker has done
// its rounds. Each worker records, per slot Update reported, the largest
// value it sent there; in the end every slot must hold exactly the largest
// value sent to it (a lost store, from a section that committed after
// losing its CPU, would leave less) and Load the largest of all.
func TestMaxExactUnderStorm(t *testing.T) {
	fast, _ := FastPath()
	workers := 2 * runtime.GOMAXPROCS(0)
	rounds := 20000
	if testing.Short() {
		rounds = 5000
	}
	var m Max
	before := aborts()
	stop := make(chan struct{})
	storm := signalStorm(t, stop)
	start := time.Now()
	sent := make([]map[int]uint64, workers)
	var ops atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		sent[w] = map[int]uint64{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mig *migrator
			if w%2 == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				mig = newMigrator(uint64(w))
				defer mig.restore()
			}
			my := sent[w]
			for i := 1; ; i++ {
				// Increasing values, distinct across workers: most
				// updates commit a store.
				v := uint64(i)*uint64(workers) + uint64(w)
				slot := m.update(v)
				my[slot] = max(my[slot], v)
				ops.Add(1)
				if mig != nil {
					mig.step()
				}
				if i >= rounds && (!fast || aborts() > before || time.Since(start) > stormTime()) {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	storm.Wait()

	want := map[int]uint64{}
	var all uint64
	for _, my := range sent {
		for slot, v := range my {
			want[slot] = max(want[slot], v)
			all = max(all, v)
		}
	}
	m.init()
	for slot := range int(slots) {
		if got := m.words[slot*slotStride/8]; got != want[slot] {
			t.Errorf("slot %d holds %d, the largest value sent there is %d", slot, got, want[slot])
		}
	}
	if got := m.overflow.Load(); got != want[-1] {
		t.Errorf("overflow holds %d, want %d", got, want[-1])
	}
	if got := m.Load(); got != all {
		t.Errorf("Load = %d, want %d", got, all)
	}
	n := aborts() - before
	t.Logf("%d updates by %d workers in %v; %d aborts; %d slots used", ops.Load(), workers, time.Since(start).Round(time.Millisecond), n, len(want))
	if fast && n == 0 {
		if os.Getenv("GORSEQ_VMTEST") != "" {
			// TCG takes interrupts only between translation blocks:
			// TestAbortRestart proves the abort path there.
			t.Logf("no abort in %v of storm under TCG (TestAbortRestart proves the abort path)", stormTime())
			return
		}
		t.Errorf("LoadMaxStore never aborted in %v of signal and migration storm: the abort path is unproven", stormTime())
	}
}

// TestAbortRestart: one locked thread updates in a tight loop (most of its
// time inside the section) while another interrupts exactly that thread
// with rseq fences and SIGURG (rseqoptest.AbortRestart), until the op's
// abort counter has moved; the slots must then hold exactly the largest
// value sent to each. Unlike the storm above this reaches aborts quickly
// under TCG emulation too, where interrupts land only between translation
// blocks.
func TestAbortRestart(t *testing.T) {
	if ok, err := FastPath(); !ok {
		t.Skipf("no critical section here: %v", err)
	}
	want := uint64(3)
	if testing.Short() {
		want = 1
	}
	rseqoptest.AbortRestart(t, rseqoptest.Options{
		Aborts: aborts,
		Want:   want,
		Max:    deadline(),
	}, func(enough func() bool) error {
		var m Max
		sent := map[int]uint64{}
		for v := uint64(1); !enough(); {
			for range 1000 {
				slot := m.update(v)
				sent[slot] = max(sent[slot], v)
				v++
			}
		}
		for slot := range int(slots) {
			if got := m.words[slot*slotStride/8]; got != sent[slot] {
				return fmt.Errorf("slot %d holds %d, the largest value sent there is %d", slot, got, sent[slot])
			}
		}
		if sent[-1] != 0 {
			return fmt.Errorf("values up to %d went to the overflow word on a registered thread", sent[-1])
		}
		return nil
	})
}

// stormTime bounds the storm test's wait for an abort: under TCG it is
// TestAbortRestart's job.
func stormTime() time.Duration {
	if os.Getenv("GORSEQ_VMTEST") != "" {
		return 10 * time.Second
	}
	return deadline()
}

//go:build linux

package rseqop_test

import (
	"errors"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
	"github.com/gorseq/rseq/rseqop/internal/fencetest"
)

// TestAreaContract checks, on the running kernel (every host leg and VM
// leg: 6.1, 6.12, 6.18, 7.2), that gorseq relies on no more of struct rseq
// than the ABI promises (DESIGN.md, "What gorseq reads and writes in
// struct rseq"):
//   - the thread's registration covers every field gorseq reads (cpu_id,
//     node_id where the kernel fills it, mm_cid where it indexes by it): its
//     length is proved by re-registering, which gives EBUSY only for the
//     registered area, length and signature;
//   - the areas gorseq registers itself have the original length (32), and
//     its own words (ModeSelf's owner word) lie outside them: Linux 7.x
//     advertises feature size 33 and alignment 64, and a 64-byte
//     registration would let the kernel write into them;
//   - the critical sections never read cpu_id_start: with it poisoned, an
//     op still indexes by the field the process uses (the kernel need not
//     rewrite cpu_id_start on every return to user space since 6.19).
func TestAreaContract(t *testing.T) {
	if err := fencetest.Err(); err != nil {
		t.Skipf("no critical sections here: %v", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	th := rseqop.Pin()
	defer th.Unpin()
	if th.Err() != nil {
		t.Skipf("this thread cannot use rseq: %v", th.Err())
	}
	a := th.Area()
	s := rseqop.Status()
	n := registeredLength(t, a, s)
	need, what := uint32(rseqabi.OffsetCPUID+4), "cpu_id"
	if s.Features.HasNodeID() {
		need, what = rseqabi.OffsetNodeID+4, "node_id"
	}
	if s.Index == "mm_cid" {
		need, what = rseqabi.OffsetMMCID+4, "mm_cid"
	}
	t.Logf("mode %v, registered length %d, reads up to %s (byte %d), kernel %v", s.Mode, n, what, need, s.Features)
	if n < need {
		t.Errorf("gorseq reads %s (up to byte %d) beyond the registered length %d", what, need, n)
	}
	if (s.Mode == rseqop.ModeSelf || s.Mode == rseqop.ModeShared) && n != rseqabi.AreaSize {
		t.Errorf("gorseq registered its own area with length %d, want the original %d", n, rseqabi.AreaSize)
	}
	if s.Mode == rseqop.ModeSelf && rseqop.SelfRecordOwnerOffset < n {
		t.Errorf("the record's owner word (byte %d) lies inside the registered %d bytes", rseqop.SelfRecordOwnerOffset, n)
	}

	// cpu_id_start poisoned: the op must index by cpu_id or mm_cid.
	idxField := &a.CPUID
	if s.Index == "mm_cid" {
		idxField = &a.MMCID
	}
	const stride = 64
	limit := uintptr(s.Slots)
	mem := make([]uint64, limit*stride/8)
	var src [8]byte
	const poison = 0x7fff_fff0
	for try := 0; ; try++ {
		atomic.StoreUint32(&a.CPUIDStart, poison)
		want := uintptr(atomic.LoadUint32(idxField))
		idx, st := fencetest.Claim(unsafe.Pointer(&mem[0]), stride, limit, unsafe.Pointer(&src[0]), 0)
		if st != fencetest.OK {
			t.Fatalf("the op failed with status %d while cpu_id_start read %#x", st, poison)
		}
		mem[idx*stride/8] = 0 // release the claimed word for the next try
		if idx == want {
			break
		}
		if got := uintptr(atomic.LoadUint32(idxField)); idx != got || try == 100 {
			// Not a migration between the two reads: the op used
			// something else than the index field.
			t.Fatalf("the op indexed slot %d; the area's %s reads %d (cpu_id_start poisoned with %#x)", idx, s.Index, got, poison)
		}
	}
	if cpu := th.CPU(); cpu == poison {
		t.Errorf("Thread.CPU returned cpu_id_start's poison")
	}
}

// registeredLength returns the length the calling thread's area a is
// registered with: re-registering the same area with the same signature
// gives EBUSY only with the registered length (EINVAL otherwise).
func registeredLength(t *testing.T, a *rseqabi.Area, s rseqop.ProcessStatus) uint32 {
	t.Helper()
	cands := []uint32{rseqabi.AreaSize, s.Features.RegisterLength()}
	if n := (s.Libc.RseqSize + 31) / 32 * 32; n > rseqabi.AreaSize {
		cands = append(cands, n)
	}
	for _, n := range cands {
		err := rseqabi.Register(unsafe.Pointer(a), n, rseqabi.Signature)
		switch {
		case err == nil:
			_ = rseqabi.Unregister(unsafe.Pointer(a), n, rseqabi.Signature)
			t.Fatal("the thread's area was not registered")
		case errors.Is(err, syscall.EBUSY):
			return n
		case !errors.Is(err, syscall.EINVAL):
			t.Fatalf("re-registering the area with length %d: %v", n, err)
		}
	}
	t.Fatalf("no length among %v is the registered one", cands)
	return 0
}

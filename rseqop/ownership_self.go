package rseqop

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
)

// selfOwnership is ModeSelf (builds without cgo): no C library takes part,
// so the library registers its own areas, one per thread, each in a 64-byte
// record {area [32]byte; owner M} on a cache line of its own in memory it
// never unmaps (reading a record is safe even after its thread exited).
//
//   - register: allocate a record, rseq(record, len, 0, sig), publish it in
//     the thread word (amd64: Go's unused m.tls[1]; arm64: TPIDR_EL0, with
//     the owner M at +32 because new threads inherit it). If the kernel
//     refuses (for example because ld.so registered this thread, as in a
//     PIE binary's main thread), the record is published with cpu_id =
//     RSEQ_CPU_ID_REGISTRATION_FAILED: the thread is stray and the ops send
//     it to the fallback without a system call.
//   - references: one persistent reference from registration until
//     Release, plus one per Pin; the last one unregisters.
//   - identity: the thread word is per M and starts 0, so a state is
//     current exactly when the thread word points at its record.
//   - exit: tgkill(pid, tid, 0) says ESRCH; the record is then reused.
type selfOwnership struct{}

// selfRecordOwnerOffset is where a self-mode record keeps its owning M:
// right after the area, which is registered with the original length
// (rseqabi.AreaSize), so the kernel never writes it (DESIGN.md, "What
// gorseq reads and writes in struct rseq").
const selfRecordOwnerOffset = rseqabi.AreaSize

// recordSize is one self-mode record: a 32-byte area and the owner word on a
// cache line of their own (two areas on one line halved throughput).
const recordSize = 64

func (selfOwnership) setup(p *process) error {
	if err := selfCheckRuntime(); err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	if runtime.GOARCH == "arm64" {
		threadOwnerOffset = selfRecordOwnerOffset
	}
	return nil
}

func (selfOwnership) register(st *threadState) error {
	rec := allocRecordLocked()
	area := (*rseqabi.Area)(rec)
	var err error
	if err = rseqabi.Register(rec, rseqabi.AreaSize, rseqabi.Signature); err != nil {
		area.CPUID = rseqabi.CPUIDRegistrationFailed
		err = fmt.Errorf("rseqop: rseq registration of thread %d: %w", st.tid, err)
	} else {
		st.area = area
		st.persistent = true
	}
	st.rec = rec
	st.owner = currentM()
	*(*unsafe.Pointer)(unsafe.Add(rec, selfRecordOwnerOffset)) = st.owner
	writeThreadWord(rec)
	return err
}

func (selfOwnership) current(st *threadState) bool {
	return haveAsm && currentArea() == st.rec
}

func (selfOwnership) exited(st *threadState) bool { return threadExited(st.tid) }

func (o selfOwnership) loadCPU(st *threadState) (int32, bool) {
	if o.exited(st) {
		return -1, false
	}
	return int32(atomic.LoadUint32(&st.area.CPUID)), true // our own memory: readable even if it just exited
}

func (selfOwnership) knownStray() bool { return areaMarkedStray() }

func (selfOwnership) release(st *threadState) error {
	writeThreadWord(nil)
	if st.err == nil {
		if err := rseqabi.Unregister(st.rec, rseqabi.AreaSize, rseqabi.Signature); err != nil {
			return err // the kernel still writes the record: never reuse it
		}
	}
	freeRecordLocked(st.rec)
	st.rec = nil
	return nil
}

func (selfOwnership) drop(st *threadState) {
	if st.rec != nil {
		freeRecordLocked(st.rec)
		st.rec = nil
	}
}

func allocRecordLocked() unsafe.Pointer {
	if len(threads.free) == 0 {
		reclaimDeadLocked()
	}
	if len(threads.free) == 0 {
		const chunk = 64 << 10
		mem, err := mmapAnon(chunk)
		if err != nil {
			panic(fmt.Sprintf("rseqop: mmap for rseq areas: %v", err))
		}
		threads.chunks = append(threads.chunks, mem)
		for off := chunk - recordSize; off >= 0; off -= recordSize {
			threads.free = append(threads.free, unsafe.Pointer(&mem[off]))
		}
	}
	rec := threads.free[len(threads.free)-1]
	threads.free = threads.free[:len(threads.free)-1]
	clear(unsafe.Slice((*byte)(rec), recordSize))
	(*rseqabi.Area)(rec).CPUID = rseqabi.CPUIDUninitialized
	return rec
}

// freeRecordLocked returns rec for reuse. Its thread has exited or has
// unregistered it, so the kernel no longer writes it; clearing the owner
// keeps threads that inherited the address (arm64) away from it.
func freeRecordLocked(rec unsafe.Pointer) {
	*(*unsafe.Pointer)(unsafe.Add(rec, selfRecordOwnerOffset)) = nil
	(*rseqabi.Area)(rec).CPUID = rseqabi.CPUIDUninitialized
	threads.free = append(threads.free, rec)
}

package rseqop

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
)

// libcOwnership is ModeLibc: glibc (2.35+) registered an area for every
// thread at thread pointer + __rseq_offset, and owns it.
//
//   - register: nothing to register; the library only checks that glibc's
//     registration of this thread worked (cpu_id >= 0). It never registers,
//     unregisters or counts references: glibc unregisters at thread exit.
//   - signature: glibc registers every thread with one signature, so it is
//     checked once, at init, on the main thread (re-registering glibc's area
//     with our signature must give EBUSY). Were it another one (EPERM), no
//     thread could run our critical sections: the process is ModeNone, with
//     that reason, rather than every thread stray (the same fallbacks, but a
//     slow path on every thread and a status that claims a fast path).
//   - references: only Pins, which keep a state while the thread is pinned.
//   - identity and exit: a pthread key destructor marks the state's watch
//     dead, so the area (in the thread's TLS) is never read after its
//     thread exited, and a reused thread id is never taken for the old thread.
type libcOwnership struct{ exitWatched }

func (libcOwnership) setup(p *process) error {
	info := p.libc
	threadAreaOffset = uintptr(info.RseqOffset)
	if w, tp := readThreadWord(), libc.ThreadPointer(); w != tp {
		return fmt.Errorf("self-check: thread word %#x is not glibc's thread pointer %#x", w, tp)
	}
	a := (*rseqabi.Area)(currentArea())
	if a == nil || int32(a.CPUID) < 0 {
		return fmt.Errorf("glibc reports __rseq_size %d but this thread's area is not registered", info.RseqSize)
	}
	return checkGlibcSignature(unsafe.Pointer(a), p.features.RegisterLength(), info.RseqSize)
}

// checkGlibcSignature re-registers glibc's area of the calling thread with
// our signature: EBUSY proves the registration is that area with our
// signature. glibc 2.35 to 2.39 register 32 bytes; later releases the
// feature size rounded to the alignment: the lengths tried cover both (the
// kernel answers EINVAL for another length before it compares signatures).
func checkGlibcSignature(area unsafe.Pointer, regLen, rseqSize uint32) error {
	lens := []uint32{rseqabi.AreaSize, regLen}
	if n := (rseqSize + rseqabi.AreaAlign - 1) / rseqabi.AreaAlign * rseqabi.AreaAlign; n > rseqabi.AreaSize {
		lens = append(lens, n)
	}
	var err error
	for _, n := range lens {
		err = rseqabi.Register(area, n, rseqabi.Signature)
		switch {
		case err == nil: // it was not registered after all: undo
			rseqabi.Unregister(area, n, rseqabi.Signature)
			return errors.New("glibc's area of the main thread is not registered with the kernel")
		case errors.Is(err, syscall.EBUSY):
			return nil
		case errors.Is(err, syscall.EPERM):
			return fmt.Errorf("glibc registered rseq with another signature than %#x: %w", rseqabi.Signature, err)
		}
	}
	return fmt.Errorf("cannot confirm glibc's rseq registration: %w", err)
}

func (libcOwnership) register(st *threadState) error {
	w, err := libc.WatchThread()
	if err != nil {
		return fmt.Errorf("rseqop: cannot watch thread %d for its exit: %w", st.tid, err)
	}
	st.watch = w
	a := (*rseqabi.Area)(currentArea())
	if a == nil || int32(a.CPUID) < 0 {
		return fmt.Errorf("rseqop: glibc did not register rseq on thread %d", st.tid)
	}
	st.area = a
	return nil
}

func (o libcOwnership) current(st *threadState) bool { return !o.exited(st) }

func (libcOwnership) exited(st *threadState) bool { return !st.watch.Valid() || st.watch.Dead() }

func (libcOwnership) knownStray() bool { return areaMarkedStray() }

func (libcOwnership) release(st *threadState) error {
	st.watch.Stop()
	return nil
}

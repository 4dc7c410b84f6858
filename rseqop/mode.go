package rseqop

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
)

// Mode says where the threads of this process get their rseq areas from.
// It is decided once, when the package initialises, and never changes.
type Mode int

const (
	// ModeNone: rseq is unavailable (old kernel, emulator, seccomp, no
	// assembly for this platform, a failed self-check). Every structure
	// stays correct on its slower fallback; Status().Reason says why.
	ModeNone Mode = iota
	// ModeLibc: glibc registered an area for every thread (cgo build,
	// glibc 2.35+, __rseq_size > 0). The library uses those areas and never
	// registers or unregisters them.
	ModeLibc
	// ModeShared: cgo build where glibc does not register. The library joins
	// the legacy protocol on the shared __rseq_abi / __rseq_refcount
	// thread-locals: it registers only if nobody has, holds one reference
	// per thread, and the last reference unregisters.
	ModeShared
	// ModeSelf: build without cgo. The library registers its own areas,
	// one per thread, each on its own cache line in memory the garbage
	// collector does not manage.
	ModeSelf
)

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeLibc:
		return "libc"
	case ModeShared:
		return "shared"
	case ModeSelf:
		return "self"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Globals this package's thread word assembly reads (DESIGN.md, "Thread
// word"); every package of generated ops holds its own copies, filled by
// Register. They are set during package initialisation and never change
// afterwards.
var (
	// threadAreaOffset is added to the thread word to find the area.
	//
	//lint:ignore U1000 read by assembly (threadword_*.s), which staticcheck cannot see
	threadAreaOffset uintptr
	// threadOwnerOffset is 0 (no ownership check), the offset from the
	// thread word of the thread's ownership word (cgo ModeShared:
	// rseqabi/libc's gorseq_owner, which must be > 0), or, on arm64 without
	// cgo, the offset of the owning M in the record the thread word points
	// at (ModeSelf; compared with g.m).
	//
	//lint:ignore U1000 read by assembly (threadword_*.s), which staticcheck cannot see
	threadOwnerOffset uintptr
)

// process is what initialisation decided.
type process struct {
	mode     Mode
	reason   string // why ModeNone or why the fast path is off, or ""
	features rseqabi.Features
	libc     libc.Info
	slots    int   // possible CPUs: the number of per-CPU slots
	useMMCID bool  // index per-CPU data by mm_cid rather than cpu_id
	fastPath bool  // threads can register: packages' critical sections may run once validated
	fenceErr error // why rseq fences (membarrier) are unavailable, or nil
}

var proc process

func init() {
	proc = decide(libc.Detect())
}

// decide picks the process' Mode. It runs on the main goroutine, which the
// runtime keeps locked to the main thread during package initialisation,
// sets the mode's ownership rules up and registers that thread (the probe;
// in ModeLibc only glibc's registration is checked).
func decide(info libc.Info) process {
	p := process{features: rseqabi.DetectFeatures(), libc: info}
	n, err := rseqabi.PossibleCPUs()
	if err != nil || n < runtime.NumCPU() {
		n = max(runtime.NumCPU(), 1)
		// Without the possible mask an index may exceed the slot count;
		// every op bound-checks, so that costs a fallback, never memory.
	}
	p.slots = n
	// mm_cid is compact (below the number of CPUs the process may use,
	// which is at most slots) and follows threads rather than CPUs, so it is
	// preferred where the kernel fills it (Linux 6.3+).
	p.useMMCID = p.features.HasMMCID()
	if rseqabi.MembarrierSupportsRseq() {
		p.fenceErr = rseqabi.MembarrierRegisterRseq()
	} else {
		p.fenceErr = errors.New("membarrier: no MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ (Linux < 5.10)")
	}

	none := func(format string, args ...any) process {
		p.mode, p.reason, p.fastPath = ModeNone, fmt.Sprintf(format, args...), false
		threadAreaOffset, threadOwnerOffset = 0, 0
		owner = nil
		return p
	}
	if !haveAsm {
		return none("no critical sections for %s/%s (or built with the purego tag)", runtime.GOOS, runtime.GOARCH)
	}
	switch {
	case info.GlibcRegisters():
		p.mode = ModeLibc
	case info.Cgo:
		p.mode = ModeShared
	default:
		p.mode = ModeSelf
	}
	owner = ownershipFor(p.mode)
	if err := owner.setup(&p); err != nil {
		return none("%v", err)
	}
	proc = p // registerThread reads proc
	if err := probeRegistration(); err != nil {
		return none("%v", err)
	}
	// Registration works. Each package's critical sections still need
	// their descriptors found and validated (Register) before they run.
	p.fastPath = true
	return p
}

// probeRegistration registers the main thread. If its registration belongs
// to someone else (ld.so registers the main thread of a PIE binary built
// without cgo; a C library may have registered it with another signature),
// the main thread stays stray and a fresh thread is probed instead: the
// mode is usable if that one registers.
func probeRegistration() error {
	_, err := registerThread()
	if err == nil {
		return nil
	}
	if ownedElsewhere(err) {
		errc := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			_, err := registerThread()
			// Release on this thread, stray or not: its state (and, in the
			// cgo modes, its thread-exit watch) must not outlive the probe.
			// Dropping it from the main thread instead freed the watch
			// before this thread's exit destructor wrote to it (heap
			// corruption in a seccomp EPERM child).
			if rerr := Release(); err == nil {
				err = rerr
			}
			errc <- err
		}()
		ferr := <-errc
		if ferr == nil {
			return nil // the main thread stays stray
		}
		err = fmt.Errorf("%w; on a new thread too: %v", err, ferr)
	}
	forgetProbe()
	return fmt.Errorf("registration of the first thread failed: %w", err)
}

// forgetProbe undoes what a failed probe left on the main thread, so that
// the process is cleanly in ModeNone.
func forgetProbe() {
	threads.Lock()
	defer threads.Unlock()
	if st := threads.byTID[gettid()]; st != nil {
		releaseLocked(st)
	}
	for _, st := range threads.byTID {
		dropLocked(st)
	}
}

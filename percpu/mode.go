package percpu

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

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

// Globals the generated critical sections read (DESIGN.md, "Thread word").
// They are set during package initialisation and never change afterwards.
var (
	// threadAreaOffset is added to the thread word to find the area.
	threadAreaOffset uintptr
	// threadOwnerOffset is, on arm64 without cgo, the offset of the owning
	// M pointer in the record the thread word points at; 0 elsewhere.
	threadOwnerOffset uintptr
)

// gMOffset is the offset of the m field in the runtime's g structure
// (stack, stackguard0, stackguard1, _panic, _defer, m). Checked at init.
const gMOffset = 48

// selfRecordOwnerOffset is where a self-mode record keeps its owning M.
const selfRecordOwnerOffset = 32

// process is what initialisation decided.
type process struct {
	mode     Mode
	reason   string // why ModeNone or why the fast path is off, or ""
	features rseqabi.Features
	libc     libc.Info
	slots    int  // possible CPUs: the number of per-CPU slots
	useMMCID bool // index per-CPU data by mm_cid rather than cpu_id
	fastPath bool // generated critical sections may run
	regLen   uint32
	fenceErr error // why rseq fences (membarrier) are unavailable, or nil
	opsErr   error // why the generated ops failed validation, or nil
}

var proc process

func init() {
	proc = decide(libc.Detect())
	counterRseq = proc.fastPath && proc.fenceErr == nil
}

// decide picks the process' Mode. It runs on the main goroutine, which the
// runtime keeps locked to the main thread during package initialisation, and
// registers that thread (the probe), except in ModeLibc where glibc did.
func decide(info libc.Info) process {
	p := process{features: rseqabi.DetectFeatures(), libc: info}
	p.regLen = p.features.RegisterLength()
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
		return p
	}
	if !haveAsm {
		return none("no critical sections for %s/%s (or built with the purego tag)", runtime.GOOS, runtime.GOARCH)
	}
	switch {
	case info.GlibcRegisters():
		p.mode = ModeLibc
		threadAreaOffset = uintptr(info.RseqOffset)
		if readThreadWord() != libc.ThreadPointer() {
			return none("self-check: thread word %#x is not glibc's thread pointer %#x", readThreadWord(), libc.ThreadPointer())
		}
		if a := (*rseqabi.Area)(currentArea()); a == nil || int32(a.CPUID) < 0 {
			return none("glibc reports __rseq_size %d but this thread's area is not registered", info.RseqSize)
		}
	case info.Cgo:
		p.mode = ModeShared
		tp := libc.ThreadPointer()
		if readThreadWord() != tp {
			return none("self-check: thread word %#x is not the thread pointer %#x", readThreadWord(), tp)
		}
		threadAreaOffset = uintptr(libc.LegacyArea()) - tp
		if uintptr(libc.LegacyArea())%rseqabi.AreaAlign != 0 {
			return none("__rseq_abi at %p is not %d-byte aligned", libc.LegacyArea(), rseqabi.AreaAlign)
		}
	default:
		p.mode = ModeSelf
		if err := selfCheckSelfMode(); err != nil {
			return none("self-check: %v", err)
		}
		if runtime.GOARCH == "arm64" {
			threadOwnerOffset = selfRecordOwnerOffset
		}
	}
	proc = p // registerThread reads proc
	if _, err := registerThread(); err != nil {
		forgetProbe()
		return none("registration of the first thread failed: %v", err)
	}
	// Registration works; the per-CPU operations also need their
	// descriptors found and validated. If they are not, threads can still
	// be pinned and read their CPU, but every structure uses its fallback.
	if p.opsErr = initOps(); p.opsErr != nil {
		p.reason = fmt.Sprintf("generated critical sections rejected: %v", p.opsErr)
		return p
	}
	p.fastPath = true
	return p
}

// selfCheckSelfMode checks the runtime internals ModeSelf relies on, so that
// a Go release that changed them disables the fast path instead of
// corrupting memory.
func selfCheckSelfMode() error {
	g := getg()
	if g == nil {
		return errors.New("cannot read g")
	}
	if runtime.GOARCH == "amd64" && readThreadWordMinus8() != uintptr(g) {
		return fmt.Errorf("FS:-8 = %#x, want g = %p: FS is not &m.tls[1]", readThreadWordMinus8(), g)
	}
	m := currentM()
	if m == nil {
		return errors.New("g.m is nil")
	}
	g0 := *(*unsafe.Pointer)(m) // m.g0 is m's first field
	if g0 == nil || g0 == g || *(*unsafe.Pointer)(unsafe.Add(g0, gMOffset)) != m {
		return fmt.Errorf("g.m at offset %d does not lead back through m.g0 (g %p m %p g0 %p)", gMOffset, g, m, g0)
	}
	if w := readThreadWord(); w != 0 {
		return fmt.Errorf("thread word is %#x before any registration: something else uses it", w)
	}
	return nil
}

// currentM returns the calling goroutine's M (g.m).
func currentM() unsafe.Pointer {
	g := getg()
	if g == nil {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Add(g, gMOffset))
}

// forgetProbe undoes what a failed probe registration left behind, so that
// the process is cleanly in ModeNone.
func forgetProbe() {
	threads.Lock()
	defer threads.Unlock()
	for _, st := range threads.byTID {
		forgetLocked(st)
	}
	if proc.mode == ModeSelf {
		writeThreadWord(nil)
	}
}

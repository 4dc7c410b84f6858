// Package rseqabi mirrors the Linux restartable sequences (rseq) kernel ABI in Go:
// the layouts of struct rseq and struct rseq_cs, the constants of
// include/uapi/linux/rseq.h, the rseq and membarrier system calls with errors
// that say what happened, and detection of what the running kernel offers.
//
// It has no cgo and no assembly; package percpu builds on it.
package rseqabi

import "unsafe"

// Area mirrors the kernel's struct rseq, the per-thread area the kernel
// updates on every return to user space of a registered thread.
//
// The kernel requires the area to be aligned to Features.Align (32 on every
// kernel so far) and registered with a length of at least 32 bytes.
type Area struct {
	// CPUIDStart is always a valid CPU number, even while unregistered
	// (then 0). It is read before a critical section by code that compares
	// it with CPUID inside.
	CPUIDStart uint32
	// CPUID is the current CPU number once registered, CPUIDUninitialized
	// before registration and CPUIDRegistrationFailed where a library
	// (glibc) tried and failed.
	CPUID uint32
	// CS is the address of the struct rseq_cs describing the critical
	// section the thread is in, or 0. The kernel clears it lazily.
	CS uint64
	// Flags is deprecated since Linux 6.0 and must stay 0.
	Flags uint32
	// NodeID is the NUMA node of CPUID (Linux 6.3+, feature size >= 24).
	NodeID uint32
	// MMCID is the concurrency ID of the thread within its memory map
	// (Linux 6.3+, feature size >= 28): unique among the threads of the
	// process running at the same time and smaller than the number of CPUs
	// the process may use, so it indexes per-CPU data compactly.
	MMCID uint32
	_     uint32
}

// CriticalSection mirrors the kernel's struct rseq_cs, the descriptor of one
// restartable critical section. It must be 32-byte aligned.
type CriticalSection struct {
	Version uint32 // 0
	Flags   uint32 // 0; the per-section "no restart" flags are deprecated
	// StartIP is the address of the first instruction of the section.
	StartIP uint64
	// PostCommitOffset is the length of the section: the instruction at
	// StartIP+PostCommitOffset follows the commit store.
	PostCommitOffset uint64
	// AbortIP is where the kernel restarts a thread that was preempted,
	// migrated or signalled inside the section. The 4 bytes before it must
	// hold Signature, and AbortIP must lie outside the section.
	AbortIP uint64
}

// Sizes, alignments and field offsets of the ABI structures.
const (
	AreaSize                        = 32 // length to register: sizeof(struct rseq) with the original padding
	AreaAlign                       = 32
	OrigFeatureSize                 = 20 // cpu_id_start, cpu_id, rseq_cs, flags: what every rseq kernel fills
	CriticalSectionSize             = 32
	CriticalSectionAlign            = 32
	OffsetCPUIDStart                = 0
	OffsetCPUID                     = 4
	OffsetCS                        = 8
	OffsetFlags                     = 16
	OffsetNodeID                    = 20
	OffsetMMCID                     = 24
	FeatureSizeNodeID               = OffsetNodeID + 4 // feature size that covers node_id
	FeatureSizeMMCID                = OffsetMMCID + 4  // feature size that covers mm_cid
	CSOffsetStartIP                 = 8
	CSOffsetPostCommitOffset        = 16
	CSOffsetAbortIP                 = 24
	CPUIDUninitialized       uint32 = 0xffffffff // RSEQ_CPU_ID_UNINITIALIZED (-1)
	// CPUIDRegistrationFailed (-2) is what glibc stores when its own
	// registration failed or was disabled by GLIBC_TUNABLES=glibc.pthread.rseq=0.
	CPUIDRegistrationFailed uint32 = 0xfffffffe
)

// Flags of the rseq system call.
const (
	FlagUnregister = 1 // RSEQ_FLAG_UNREGISTER
)

// Compile-time checks that the Go mirrors have the kernel's layout.
var (
	_ [AreaSize - unsafe.Sizeof(Area{})]byte
	_ [unsafe.Sizeof(Area{}) - AreaSize]byte
	_ [CriticalSectionSize - unsafe.Sizeof(CriticalSection{})]byte
	_ [unsafe.Sizeof(CriticalSection{}) - CriticalSectionSize]byte
	_ [OffsetMMCID - unsafe.Offsetof(Area{}.MMCID)]byte
	_ [unsafe.Offsetof(Area{}.MMCID) - OffsetMMCID]byte
)

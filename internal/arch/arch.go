// Package arch is what gorseq knows about each architecture it writes
// critical sections for, each fact once: the abort signature, the markers
// the generator puts in the code and the runtime finds at init, the
// instruction alignment the runtime scans at, the memory model's rule for
// Sharded's lock, and the Go runtime layout the prologue reads. The
// generator (module gen, through gen/internal) emits from it, rseqabi takes
// its Signature from it, and rseqop scans code with it.
//
// A new architecture is one row here (All), one generator back end
// (gen/internal/<arch>), its thread word assembly (rseqop/threadword_<arch>.s)
// and its fence file (percpu/sharded_fence_<arch>.go, whose rule Weak
// decides).
package arch

import "encoding/binary"

// Signatures: the 32-bit value the kernel requires right before every
// abort_ip and in the registration (RSEQ_SIG), the values of the kernel's
// rseq selftests and librseq, so that C libraries built with them can share
// a registration with gorseq.
const (
	// SignatureAMD64 is the displacement of `ud1 0x53053053(%rip), %edi`
	// (0F B9 3D 53 30 05 53): executing it traps.
	SignatureAMD64 uint32 = 0x53053053
	// SignatureARM64 is the encoding of BRK #0x45e0: executing it traps.
	SignatureARM64 uint32 = 0xd428bc00
)

// GMOffset is the offset of the m field in the Go runtime's g structure
// (stack, stackguard0, stackguard1, _panic, _defer, m), the same on every
// 64-bit port: the arm64 prologue compares g.m with a record's owner in
// builds without cgo. rseqop checks it at init (selfCheckRuntime).
const GMOffset = 48

// Arch is one architecture.
type Arch struct {
	GOARCH string
	// Signature is RSEQ_SIG; SignaturePrefix the bytes the generator puts
	// before it (the ud1 opcode on amd64), so that abort_ip follows
	// SignaturePrefix + the 4 signature bytes (little-endian).
	Signature       uint32
	SignaturePrefix []byte
	// StartMarker and PostCommitMarker are the instructions (no-ops) the
	// generator puts at start_ip and post_commit_ip, whole words of
	// little-endian bytes; the runtime finds each exactly once in a
	// function, at a multiple of InsnAlign.
	StartMarker, PostCommitMarker []uint32
	InsnAlign                     int
	// Weak is true where loads may be satisfied before earlier loads: the
	// plain load in Sharded's lock section is then no acquire, and Update
	// issues a load barrier after the section (percpu/sharded_fence_*).
	Weak bool
}

// All is every architecture with critical sections, in the order the
// generator writes them.
var All = []Arch{
	{
		GOARCH:          "amd64",
		Signature:       SignatureAMD64,
		SignaturePrefix: []byte{0x0f, 0xb9, 0x3d},
		// NOPL disp32(%rax,%rax,1) (0F 1F 84 00) with the displacement
		// "rsqS" / "rsqC" in memory.
		StartMarker:      []uint32{0x00841f0f, 0x53717372},
		PostCommitMarker: []uint32{0x00841f0f, 0x43717372},
		InsnAlign:        1,
		Weak:             false, // TSO: loads are not reordered with earlier loads
	},
	{
		GOARCH:    "arm64",
		Signature: SignatureARM64,
		// ADR XZR, #imm: a no-op whose immediate names the marker.
		StartMarker:      []uint32{adrXZR(0x53a1)},
		PostCommitMarker: []uint32{adrXZR(0x43a1)},
		InsnAlign:        4,
		Weak:             true,
	},
}

// adrXZR encodes ADR XZR, #imm (a no-op).
func adrXZR(imm uint32) uint32 { return 0x10000000 | (imm&3)<<29 | (imm>>2)<<5 | 31 }

// Lookup returns the row of goarch.
func Lookup(goarch string) (Arch, bool) {
	for _, a := range All {
		if a.GOARCH == goarch {
			return a, true
		}
	}
	return Arch{}, false
}

// Bytes returns words as little-endian bytes, as they lie in the code.
func Bytes(words []uint32) []byte {
	var b []byte
	for _, w := range words {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// AbortBytes returns the bytes right before abort_ip: the prefix and the
// signature.
func (a Arch) AbortBytes() []byte {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), a.SignaturePrefix...), a.Signature)
}

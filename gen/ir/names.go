package ir

// Package-level names the generator declares in the target package (gen's
// README lists them). Everything it declares starts with "zop" or, for the
// ops the package calls, "op"; a hot op's asm function, slow path and limit
// are the names its Hot gives.
const (
	// OpPrefix: op<Name> runs the op and registers the calling thread and
	// retries when it has no usable area yet (zops_table.go).
	OpPrefix = "op"
	// AsmPrefix: zop<Name> is the op's asm function (zops_asm.go).
	AsmPrefix = "zop"
	// FallbackPrefix: zopFallback<Name> is the op's portable fallback on a
	// shard the caller picks (zops_fallback.go).
	FallbackPrefix = "zopFallback"

	// The globals the assembly reads (DESIGN.md, "Thread word"), set at
	// init from what rseqop.Register returns.
	GlobalAreaOffset  = "zopAreaOffset"  // area = thread word + this
	GlobalOwnerOffset = "zopOwnerOffset" // 0, the ownership word's offset, or rseqop.OwnerDisabled
	GlobalIndexOffset = "zopIndexOffset" // offset of the index field (cpu_id or mm_cid) in struct rseq
	// Aborts is the abort counter array; Addrs the function returning
	// every function's entry and descriptor.
	Aborts = "zopAborts"
	Addrs  = "zopAddrs"
)

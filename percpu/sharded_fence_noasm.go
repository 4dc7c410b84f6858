//go:build !amd64 && !(linux && arm64 && !purego)

package percpu

// shardAcquireFence is a no-op where this build has no critical sections
// (another platform, or arm64 with purego or outside Linux): every shard is
// then a locked shard, taken and released with atomics. An architecture
// that gets critical sections gets a sharded_fence_<arch>.go of its own with
// the rule internal/arch's Weak gives it, and is taken out of this
// constraint (TestAcquireFencePerArch).
func shardAcquireFence() {}

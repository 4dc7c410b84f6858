//go:build linux && !purego

package percpu

// shardAcquireFence makes Update's lock acquisition an acquire: the
// critical section loads the lock word with a plain LDR and stores it with
// a plain STR, and arm64 may satisfy later loads (of the shard, written by
// the previous holder on another CPU before its release store) before that
// LDR (internal/arch: Weak). A barrier after the section orders them
// (sharded_fence_arm64.s).
func shardAcquireFence()

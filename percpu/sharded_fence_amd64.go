package percpu

// shardAcquireFence is a no-op on amd64 (internal/arch: not Weak): loads are
// not reordered with earlier loads (TSO), so the section's load of the lock
// word already orders the shard's accesses after the previous holder's
// release store.
func shardAcquireFence() {}

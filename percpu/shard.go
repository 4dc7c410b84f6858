package percpu

import _ "unsafe" // for go:linkname

//go:linkname runtime_procPin runtime.procPin
func runtime_procPin() int

//go:linkname runtime_procUnpin runtime.procUnpin
func runtime_procUnpin()

// shardHint returns the id of the P the calling goroutine runs on: a cheap,
// well-spread shard choice for the fallbacks (sync.Pool shards the same
// way). The goroutine may move right after; callers must stay correct under
// any value (they use atomics or locks).
func shardHint() int {
	id := runtime_procPin()
	runtime_procUnpin()
	return id
}

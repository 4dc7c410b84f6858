package rseqop

// For the external tests (fence_test.go): the fence's fallback.
var StopTheWorldFence = stopTheWorldFence

package rseqop

// For the external tests (fence_test.go): the fence's fallback.
var StopTheWorldFence = stopTheWorldFence

// SelfRecordOwnerOffset is where a ModeSelf record keeps its owner word.
const SelfRecordOwnerOffset = selfRecordOwnerOffset

package percpu

// poolFast is the per-CPU level of a Pool on the rseq fast path. This
// version has no fast path yet (the generated pool ops are not built): init
// reports false and the pool uses its per-P fallback.
type poolFast[T any] struct{}

func (f *poolFast[T]) init(slots, perCPU int) bool { return false }

func (f *poolFast[T]) get() (x *T, done bool) { return nil, false }

func (f *poolFast[T]) put(s *poolState[T], x *T) bool { return false }

// forEachPooled calls fn for every object on a full stack (quiescent pool).
func (f *poolFast[T]) forEachPooled(fn func(*T)) {}

// forEachRetained calls fn for every non-nil entry: pooled objects and
// stale references (quiescent pool).
func (f *poolFast[T]) forEachRetained(fn func(*T)) {}

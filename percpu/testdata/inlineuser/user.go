// Package inlineuser calls the operations that must inline into their
// callers; TestHotPathsInline builds it with -gcflags=-m.
package inlineuser

import "github.com/gorseq/rseq/percpu"

type buf struct{ b [64]byte }

var (
	c    percpu.Counter
	f    percpu.Float64Counter
	pool percpu.Pool[buf]
)

func CounterAdd(d int64) { c.Add(d) }
func CounterInc()        { c.Inc() }
func CounterDec()        { c.Dec() }

func Float64Add(v float64) { f.Add(v) }

func PoolGet() (*buf, bool) { return pool.Get() }
func PoolPut(x *buf)        { pool.Put(x) }

// Package escapeuser Puts objects that the compiler could keep on the
// caller's stack if Pool.Put's hot op claimed its argument does not escape;
// TestPutArgumentsEscape builds it with -gcflags=-m and requires both to
// escape to the heap.
package escapeuser

import "github.com/gorseq/rseq/percpu"

type Obj struct{ Magic, Pad uint64 }

type Buf struct{ B [64]byte }

var (
	objs percpu.Pool[Obj]
	bufs percpu.Pool[Buf]
)

// PutFresh puts a new object at once.
func PutFresh() {
	o := new(Obj)
	o.Magic = 0xC0FFEE
	objs.Put(o)
}

// Handle is the idiomatic pattern for a Pool without New, in a goroutine
// that then exits.
func Handle() {
	go func() {
		b, ok := bufs.Get()
		if !ok {
			b = &Buf{}
		}
		b.B[0]++
		bufs.Put(b)
	}()
}

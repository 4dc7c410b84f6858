// This file is copied next to librseq's op set (gen/ops.Librseq), generated
// into a scratch module by gen's TestLibrseqOpsRun, and run there: no
// package in the repository generates that set, and this is where its ops,
// the IR's Store and Copy statements among them, run as critical sections.

package librseqops

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
	"github.com/gorseq/rseq/rseqop/rseqoptest"
	"golang.org/x/sys/unix"
)

const pkgPath = "librseqrun"

// stride is the distance between two CPUs' slots: a count word and
// records record bytes each above it.
const (
	stride  = 256
	records = 4
	record  = 32
)

// variants are the index fields the kernel fills here.
func variants(t *testing.T) []string {
	s := rseqop.Status()
	if !s.FastPath {
		t.Skipf("rseq unavailable: %s", s.Reason)
	}
	if zopErr != nil {
		t.Fatalf("librseq's ops failed validation: %v", zopErr)
	}
	if s.Index == "mm_cid" {
		return []string{"CPU", "MMCID"}
	}
	return []string{"CPU"}
}

func limit() uintptr { return uintptr(rseqop.Status().Slots) }

func aborts(fn string) func() uint64 {
	return func() uint64 {
		n, ok := rseqop.Aborts(pkgPath, fn)
		if !ok {
			panic(fn + " is not registered")
		}
		return n
	}
}

// slots is pointer-free memory for limit() slots.
type slots []byte

func newSlots() slots { return make(slots, limit()*stride) }

func (s slots) base() unsafe.Pointer     { return unsafe.Pointer(&s[0]) }
func (s slots) word(idx uintptr) *uint64 { return (*uint64)(unsafe.Pointer(&s[idx*stride])) }

// rec is record k%records of slot idx.
func (s slots) rec(idx, k uintptr) []byte {
	o := idx*stride + 8 + k%records*record
	return s[o : o+record]
}

func (s slots) sum() (n uint64) {
	for i := range limit() {
		n += *s.word(i)
	}
	return n
}

// call runs op until it has an area to run on (status -1: slow path, then
// again) and returns its index and status. It runs on the loops'
// goroutines, where a test cannot stop: a state that cannot happen panics.
func call(op func() (uintptr, int)) (uintptr, int) {
	for {
		idx, st := op()
		switch st {
		case statusUnregistered:
			if !zopSlowPath() {
				panic("status -1 and no slow path where rseq works")
			}
		case statusIndexRange:
			panic(fmt.Sprintf("index %d out of range %d", idx, limit()))
		default:
			return idx, st
		}
	}
}

// locked runs f on a goroutine locked to its thread.
func locked(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		f()
	}()
	<-done
}

// TestLoadCbneStore: compare-and-set on this CPU's word; the wrong expected
// value fails with 1 and stores nothing. Under interruptions, every commit
// counts exactly once.
func TestLoadCbneStore(t *testing.T) {
	for _, v := range variants(t) {
		op := map[string]func(unsafe.Pointer, uintptr, uintptr, uintptr, uintptr) (uintptr, int){
			"CPU": opLoadCbneStoreCPU, "MMCID": opLoadCbneStoreMMCID}[v]
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			locked(func() {
				idx, st := call(func() (uintptr, int) { return op(s.base(), stride, limit(), 5, 6) })
				if st != 1 || *s.word(idx) != 0 {
					t.Errorf("expect 5 on a 0 word: status %d, word %d; want 1, 0", st, *s.word(idx))
				}
			})
			var commits uint64
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts("opLoadCbneStore" + v), Want: 3},
				func(enough func() bool) error {
					var idx uintptr
					for !enough() {
						for range 1000 {
							w := *s.word(idx)
							var st int
							idx, st = call(func() (uintptr, int) { return op(s.base(), stride, limit(), uintptr(w), uintptr(w+1)) })
							if st == statusOK {
								commits++
							}
						}
					}
					if got := s.sum(); got != commits {
						return fmt.Errorf("words sum to %d after %d commits", got, commits)
					}
					return nil
				})
		})
	}
}

// TestLoadAddStore: a per-CPU add; exact sums under interruptions.
func TestLoadAddStore(t *testing.T) {
	for _, v := range variants(t) {
		op := map[string]func(unsafe.Pointer, uintptr, uintptr, int64) (uintptr, int){
			"CPU": opLoadAddStoreCPU, "MMCID": opLoadAddStoreMMCID}[v]
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts("opLoadAddStore" + v), Want: 3},
				func(enough func() bool) error {
					var n uint64
					for !enough() {
						for range 1000 {
							if _, st := call(func() (uintptr, int) { return op(s.base(), stride, limit(), 3) }); st != statusOK {
								return fmt.Errorf("status %d", st)
							}
							n += 3
						}
					}
					if got := s.sum(); got != n {
						return fmt.Errorf("words sum to %d after adding %d", got, n)
					}
					return nil
				})
		})
	}
}

// TestLoadAddLoadLoadAddStore: the add through a slot-array pointer loaded
// inside the section; exact sums under interruptions.
func TestLoadAddLoadLoadAddStore(t *testing.T) {
	for _, v := range variants(t) {
		op := map[string]func(unsafe.Pointer, uintptr, uintptr, int64) (uintptr, int){
			"CPU": opLoadAddLoadLoadAddStoreCPU, "MMCID": opLoadAddLoadLoadAddStoreMMCID}[v]
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			arr := s.base()
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts("opLoadAddLoadLoadAddStore" + v), Want: 3},
				func(enough func() bool) error {
					var n uint64
					for !enough() {
						for range 1000 {
							if _, st := call(func() (uintptr, int) { return op(unsafe.Pointer(&arr), stride, limit(), 1) }); st != statusOK {
								return fmt.Errorf("status %d", st)
							}
							n++
						}
					}
					if got := s.sum(); got != n {
						return fmt.Errorf("words sum to %d after %d adds", got, n)
					}
					return nil
				})
		})
	}
}

// TestLoadCbeqStoreAddLoadStore: librseq's list pop on per-CPU lists of
// nodes outside the Go heap, each popped node pushed back (LoadCbneStore on
// the head); under interruptions no node is lost or duplicated, and an
// empty list fails with 1.
func TestLoadCbeqStoreAddLoadStore(t *testing.T) {
	for _, v := range variants(t) {
		pop := map[string]func(unsafe.Pointer, uintptr, uintptr, unsafe.Pointer, uintptr) (unsafe.Pointer, uintptr, int){
			"CPU": opLoadCbeqStoreAddLoadStoreCPU, "MMCID": opLoadCbeqStoreAddLoadStoreMMCID}[v]
		push := map[string]func(unsafe.Pointer, uintptr, uintptr, uintptr, uintptr) (uintptr, int){
			"CPU": opLoadCbneStoreCPU, "MMCID": opLoadCbneStoreMMCID}[v]
		t.Run(v, func(t *testing.T) {
			// heads: one pointer word per slot, in mmap'd memory like the
			// nodes (next pointer at 0, id at 8), which the collector never
			// scans.
			nodes := 16 * int(limit())
			mem, err := unix.Mmap(-1, 0, int(limit()*stride)+nodes*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(mem)
			s := slots(mem[:limit()*stride])
			node := func(i int) unsafe.Pointer { return unsafe.Pointer(&mem[int(limit()*stride)+i*16]) }
			next := func(n unsafe.Pointer) *unsafe.Pointer { return (*unsafe.Pointer)(n) }
			head := func(idx uintptr) *unsafe.Pointer { return (*unsafe.Pointer)(unsafe.Pointer(s.word(idx))) }
			for i := range nodes { // 16 on every slot's list
				*(*uint64)(unsafe.Add(node(i), 8)) = uint64(i)
				h := head(uintptr(i) % limit())
				*next(node(i)) = *h
				*h = node(i)
			}
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts("opLoadCbeqStoreAddLoadStore" + v), Want: 3},
				func(enough func() bool) error {
					var idx uintptr
					for !enough() {
						for range 1000 {
							var n unsafe.Pointer
							var st int
							call(func() (uintptr, int) {
								n, idx, st = pop(s.base(), stride, limit(), nil, 0)
								return idx, st
							})
							if st == 1 {
								continue // this CPU's list is empty
							}
							for { // push n back on the list of the CPU we are on
								h := *head(idx)
								*next(n) = h
								var pst int
								idx, pst = call(func() (uintptr, int) { return push(s.base(), stride, limit(), uintptr(h), uintptr(n)) })
								if pst == statusOK {
									break
								}
							}
						}
					}
					seen := map[uint64]bool{}
					for i := range limit() {
						for n := *head(i); n != nil; n = *next(n) {
							id := *(*uint64)(unsafe.Add(n, 8))
							if seen[id] || id >= uint64(nodes) {
								return fmt.Errorf("node %d twice on the lists (or unknown)", id)
							}
							seen[id] = true
						}
					}
					if len(seen) != nodes {
						return fmt.Errorf("%d of %d nodes on the lists", len(seen), nodes)
					}
					return nil
				})
			// Empty every list: then the pop fails with 1.
			for i := range limit() {
				*head(i) = nil
			}
			locked(func() {
				if _, st := call(func() (uintptr, int) { _, idx, st := pop(s.base(), stride, limit(), nil, 0); return idx, st }); st != 1 {
					t.Errorf("pop from an empty list: status %d, want 1", st)
				}
			})
		})
	}
}

// published checks the records each slot's count publishes: the last
// records of them, k in [count-records, count), must hold want(k).
func published(s slots, want func(k uintptr) []byte) error {
	for idx := range limit() {
		n := uintptr(*s.word(idx))
		for k := n - min(n, records); k < n; k++ {
			w := want(k)
			if got := s.rec(idx, k)[:len(w)]; string(got) != string(w) {
				return fmt.Errorf("slot %d record %d (count %d): % x, want % x", idx, k, n, got, w)
			}
		}
	}
	return nil
}

// TestLoadCbneStoreStore: a speculative store, then the commit. The
// contract: only the commit publishes, so the records checked are those the
// count word covers (the kernel selftests' buffer pattern).
func TestLoadCbneStoreStore(t *testing.T) {
	for _, v := range variants(t) {
		op := map[string]func(unsafe.Pointer, uintptr, uintptr, uintptr, uintptr, uintptr, uintptr) (uintptr, int){
			"CPU": opLoadCbneStoreStoreCPU, "MMCID": opLoadCbneStoreStoreMMCID}[v]
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			val := func(k uintptr) uint64 { return uint64(k)*0x9e3779b97f4a7c15 | 1 }
			locked(func() {
				idx, st := call(func() (uintptr, int) { return op(s.base(), stride, limit(), 9, 8, 77, 10) })
				if st != 1 || *s.word(idx) != 0 || s.rec(idx, 0)[0] != 0 {
					t.Errorf("expect 9 on a 0 word: status %d, word %d, record % x; want 1, 0, zeros", st, *s.word(idx), s.rec(idx, 0))
				}
			})
			var commits uint64
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts("opLoadCbneStoreStore" + v), Want: 3},
				func(enough func() bool) error {
					var idx uintptr
					for !enough() {
						for range 1000 {
							k := uintptr(*s.word(idx))
							var st int
							idx, st = call(func() (uintptr, int) {
								return op(s.base(), stride, limit(), k, 8+k%records*record, uintptr(val(k)), k+1)
							})
							if st == statusOK {
								commits++
							}
						}
					}
					if got := s.sum(); got != commits {
						return fmt.Errorf("counts sum to %d after %d commits", got, commits)
					}
					return published(s, func(k uintptr) []byte { return binary.LittleEndian.AppendUint64(nil, val(k)) })
				})
		})
	}
}

// TestLoadCbneMemcpyStore: a speculative copy of 1 to 32 bytes, then the
// commit; as above, the published records must hold their bytes.
func TestLoadCbneMemcpyStore(t *testing.T) {
	for _, v := range variants(t) {
		op := map[string]func(unsafe.Pointer, uintptr, uintptr, uintptr, uintptr, unsafe.Pointer, uintptr, uintptr) (uintptr, int){
			"CPU": opLoadCbneMemcpyStoreCPU, "MMCID": opLoadCbneMemcpyStoreMMCID}[v]
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			content := func(k uintptr) []byte {
				b := make([]byte, 1+k%record)
				for i := range b {
					b[i] = byte(k*7 + uintptr(i)*13 + 1)
				}
				return b
			}
			locked(func() {
				src := content(31)
				idx, st := call(func() (uintptr, int) { return op(s.base(), stride, limit(), 9, 8, unsafe.Pointer(&src[0]), 32, 10) })
				if st != 1 || *s.word(idx) != 0 || s.rec(idx, 0)[0] != 0 {
					t.Errorf("expect 9 on a 0 word: status %d, word %d, record % x; want 1, 0, zeros", st, *s.word(idx), s.rec(idx, 0))
				}
			})
			var commits uint64
			rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts("opLoadCbneMemcpyStore" + v), Want: 3},
				func(enough func() bool) error {
					var idx uintptr
					for !enough() {
						for range 1000 {
							k := uintptr(*s.word(idx))
							src := content(k)
							var st int
							idx, st = call(func() (uintptr, int) {
								return op(s.base(), stride, limit(), k, 8+k%records*record, unsafe.Pointer(&src[0]), uintptr(len(src)), k+1)
							})
							runtime.KeepAlive(src)
							if st == statusOK {
								commits++
							}
						}
					}
					if got := s.sum(); got != commits {
						return fmt.Errorf("counts sum to %d after %d commits", got, commits)
					}
					return published(s, content)
				})
		})
	}
}

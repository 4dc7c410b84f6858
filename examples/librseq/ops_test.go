//go:build linux && (amd64 || arm64)

package librseq

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/rseqop"
	"github.com/gorseq/rseq/rseqop/rseqoptest"
	"golang.org/x/sys/unix"
)

const pkgPath = "github.com/gorseq/rseq/examples/librseq"

// stride is the distance between two CPUs' slots: a count word and
// records record bytes each above it.
const (
	stride  = 256
	records = 4
	record  = 32
)

// TestStatus: where the build and make target say rseq must work
// (GORSEQ_EXPECT_MODE other than none), the ops must have passed
// validation, so that the tests below run them as critical sections
// rather than skip.
func TestStatus(t *testing.T) {
	s := rseqop.Status()
	t.Logf("%v; librseq ops: %v", s, zopErr)
	if expect := os.Getenv("GORSEQ_EXPECT_MODE"); expect != "" {
		if s.Mode.String() != expect {
			t.Errorf("mode %v, GORSEQ_EXPECT_MODE=%s", s.Mode, expect)
		}
		if expect != "none" && zopErr != nil {
			t.Errorf("librseq's ops do not run (%v), GORSEQ_EXPECT_MODE=%s expects them to", zopErr, expect)
		}
	}
	n := 0
	for _, st := range rseqop.OpStats() {
		if st.Package == pkgPath {
			n++
		}
	}
	if n != zopCount {
		t.Errorf("OpStats lists %d functions of %s, want %d", n, pkgPath, zopCount)
	}
}

// variants are the ways to run an op here: its critical section (indexed
// by the field the process uses, rseqop.Status().Index) where it runs, and
// always its portable fallback.
func variants(t *testing.T) []string {
	s := rseqop.Status()
	if !s.FastPath || zopErr != nil {
		t.Logf("critical sections off (%s; %v): fallbacks only", s.Reason, zopErr)
		return []string{"Fallback"}
	}
	return []string{"Section", "Fallback"}
}

// pick returns the function of variant v.
func pick[F any](v string, section, fallback F) F {
	if v == "Fallback" {
		return fallback
	}
	return section
}

// fbShard is the slot the fallbacks are told to use: the last one, so
// that a fallback that ignored its shard would be seen.
func fbShard() uintptr { return limit() - 1 }

// interrupted runs body in batches of 1000 calls, then check, on one
// thread. For the critical section (variant Section) that thread is
// interrupted until op has aborted (rseqoptest.AbortRestart:
// 3 times, once with -short, as in the emulated VMs); a fallback runs
// 20 batches (1 with -short).
func interrupted(t *testing.T, op, v string, body func(), check func() error) {
	t.Helper()
	loop := func(enough func() bool) error {
		for !enough() {
			for range 1000 {
				body()
			}
		}
		return check()
	}
	if v == "Fallback" {
		batches, n := 0, 20
		if testing.Short() {
			n = 1 // the emulated VMs run a fallback call in about 0.5 ms
		}
		if err := loop(func() bool { batches++; return batches > n }); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := uint64(3)
	if testing.Short() {
		want = 1
	}
	rseqoptest.AbortRestart(t, rseqoptest.Options{Aborts: aborts(op), Want: want}, loop)
}

// The fallbacks with their critical sections' signatures, on slot fbShard.

func fbLoadCbneStore(base unsafe.Pointer, stride, limit, expect, newv uintptr) (uintptr, int) {
	return zopFallbackLoadCbneStore(fbShard(), base, stride, limit, expect, newv)
}

func fbLoadAddStore(base unsafe.Pointer, stride, limit uintptr, inc int64) (uintptr, int) {
	return zopFallbackLoadAddStore(fbShard(), base, stride, limit, inc)
}

func fbLoadAddLoadLoadAddStore(ptr unsafe.Pointer, stride, limit uintptr, inc int64) (uintptr, int) {
	return zopFallbackLoadAddLoadLoadAddStore(fbShard(), ptr, stride, limit, inc)
}

func fbLoadCbeqStoreAddLoadStore(base unsafe.Pointer, stride, limit uintptr, expectnot unsafe.Pointer, voff uintptr) (unsafe.Pointer, uintptr, int) {
	return zopFallbackLoadCbeqStoreAddLoadStore(fbShard(), base, stride, limit, expectnot, voff)
}

func fbLoadCbneStoreStore(base unsafe.Pointer, stride, limit, expect, off2, newv2, newv uintptr) (uintptr, int) {
	return zopFallbackLoadCbneStoreStore(fbShard(), base, stride, limit, expect, off2, newv2, newv)
}

func fbLoadCbneMemcpyStore(base unsafe.Pointer, stride, limit, expect, dstOff uintptr, src unsafe.Pointer, n, newv uintptr) (uintptr, int) {
	return zopFallbackLoadCbneMemcpyStore(fbShard(), base, stride, limit, expect, dstOff, src, n, newv)
}

// limit is the number of slots. Read once: rseqop.Status takes locks and
// walks the thread table, and a loop that called it around every op spent
// so little of its time inside the sections that an abort took thousands of
// interruptions in the one-instruction-per-block VM legs.
func limit() uintptr { return nslots }

var nslots = uintptr(rseqop.Status().Slots)

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
	o := idx*stride + recordOff(k)
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
		case zopStatusUnregistered:
			if !zopSlowPath() {
				panic("status -1 and no slow path where rseq works")
			}
		case zopStatusIndexRange:
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

// TestGeneratedOpsEscape: the generated declarations' escape annotations
// are what the compiler's escape analysis finds (rseqoptest.CheckEscapes).
func TestGeneratedOpsEscape(t *testing.T) {
	rseqoptest.CheckEscapes(t, zopPackage)
}

// TestLoadCbneStore: compare-and-set on this CPU's word; the wrong expected
// value fails with 1 and stores nothing. Under interruptions, every commit
// counts exactly once.
func TestLoadCbneStore(t *testing.T) {
	for _, v := range variants(t) {
		op := pick(v, zopLoadCbneStore, fbLoadCbneStore)
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			refused(t, s, func() (uintptr, int) { return op(s.base(), stride, limit(), 5, 6) })
			var idx uintptr
			var commits uint64
			interrupted(t, "LoadCbneStore", v, func() {
				w := uintptr(*s.word(idx))
				var st int
				idx, st = call(func() (uintptr, int) { return op(s.base(), stride, limit(), w, w+1) })
				if st == zopStatusOK {
					commits++
				}
			}, func() error { return sums(s, commits) })
		})
	}
}

// refused runs op, on fresh slots with an expected value the slot word
// does not hold: it must fail with 1 and write nothing.
func refused(t *testing.T, s slots, op func() (uintptr, int)) {
	locked(func() {
		idx, st := call(op)
		if st != 1 || string(s) != string(make([]byte, len(s))) {
			t.Errorf("a wrong expected value: status %d, slot %d: word %d, record % x; want status 1 and nothing written", st, idx, *s.word(idx), s.rec(idx, 0))
		}
	})
}

// sums checks that the slot words add up to want.
func sums(s slots, want uint64) error {
	if got := s.sum(); got != want {
		return fmt.Errorf("slot words sum to %d, want %d", got, want)
	}
	return nil
}

// mustOK panics on a status other than OK (ops that cannot fail).
func mustOK(_ uintptr, st int) {
	if st != zopStatusOK {
		panic(fmt.Sprintf("status %d from an op that cannot fail", st))
	}
}

// TestLoadAddStore: a per-CPU add; exact sums under interruptions.
func TestLoadAddStore(t *testing.T) {
	for _, v := range variants(t) {
		op := pick(v, zopLoadAddStore, fbLoadAddStore)
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			var n uint64
			interrupted(t, "LoadAddStore", v, func() {
				mustOK(call(func() (uintptr, int) { return op(s.base(), stride, limit(), 3) }))
				n += 3
			}, func() error { return sums(s, n) })
		})
	}
}

// TestLoadAddLoadLoadAddStore: the add through a slot-array pointer loaded
// inside the section; exact sums under interruptions.
func TestLoadAddLoadLoadAddStore(t *testing.T) {
	for _, v := range variants(t) {
		op := pick(v, zopLoadAddLoadLoadAddStore, fbLoadAddLoadLoadAddStore)
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			arr := s.base()
			var n uint64
			interrupted(t, "LoadAddLoadLoadAddStore", v, func() {
				mustOK(call(func() (uintptr, int) { return op(unsafe.Pointer(&arr), stride, limit(), 1) }))
				n++
			}, func() error { return sums(s, n) })
		})
	}
}

// TestLoadCbeqStoreAddLoadStore: librseq's list pop on per-CPU lists of
// nodes outside the Go heap, each popped node pushed back (LoadCbneStore on
// the head); under interruptions no node is lost or duplicated, and an
// empty list fails with 1.
func TestLoadCbeqStoreAddLoadStore(t *testing.T) {
	for _, v := range variants(t) {
		pop := pick(v, zopLoadCbeqStoreAddLoadStore, fbLoadCbeqStoreAddLoadStore)
		push := pick(v, zopLoadCbneStore, fbLoadCbneStore)
		t.Run(v, func(t *testing.T) {
			// The list heads (one word per slot) and the nodes (next
			// pointer at 0, id at 8) in mmap'd memory, which the collector
			// never scans.
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
			popOne := func() (n unsafe.Pointer, idx uintptr, st int) {
				idx, st = call(func() (uintptr, int) {
					n, idx, st = pop(s.base(), stride, limit(), nil, 0)
					return idx, st
				})
				return n, idx, st
			}
			for i := range nodes { // 16 on every slot's list
				*(*uint64)(unsafe.Add(node(i), 8)) = uint64(i)
				h := head(uintptr(i) % limit())
				*next(node(i)) = *h
				*h = node(i)
			}
			interrupted(t, "LoadCbeqStoreAddLoadStore", v, func() {
				n, idx, st := popOne()
				if st == 1 {
					return // this CPU's list is empty
				}
				for { // push n back on the list of the CPU the thread is on
					h := *head(idx)
					*next(n) = h
					if idx, st = call(func() (uintptr, int) { return push(s.base(), stride, limit(), uintptr(h), uintptr(n)) }); st == zopStatusOK {
						return
					}
				}
			}, func() error {
				seen := map[uint64]bool{}
				for i := range limit() {
					for n := *head(i); n != nil; n = *next(n) {
						id := *(*uint64)(unsafe.Add(n, 8))
						if seen[id] || id >= uint64(nodes) {
							return fmt.Errorf("node %d twice on the lists, or unknown", id)
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
				if _, _, st := popOne(); st != 1 {
					t.Errorf("pop from an empty list: status %d, want 1", st)
				}
			})
		})
	}
}

// published checks what the count words publish: the commits add up, and
// each slot's last records, k in [count-(records-1), count), hold want(k).
// Not the oldest of the ring: record count, the next one, shares its place,
// and a section aborted after its speculative copy of record count (whose
// retry then ran on another CPU) leaves those bytes there with the count
// unchanged, as the ops' contract allows (only the commit publishes).
func published(s slots, commits uint64, want func(k uintptr) []byte) error {
	if err := sums(s, commits); err != nil {
		return err
	}
	for idx := range limit() {
		n := uintptr(*s.word(idx))
		for k := n - min(n, records-1); k < n; k++ {
			w := want(k)
			if got := s.rec(idx, k)[:len(w)]; string(got) != string(w) {
				return fmt.Errorf("slot %d record %d (count %d): % x, want % x", idx, k, n, got, w)
			}
		}
	}
	return nil
}

// recordOff is where record k lies in its slot.
func recordOff(k uintptr) uintptr { return 8 + k%records*record }

// TestLoadCbneStoreStore: a speculative store, then the commit. The
// contract: only the commit publishes, so the records checked are those the
// count word covers (the kernel selftests' buffer pattern).
func TestLoadCbneStoreStore(t *testing.T) {
	for _, v := range variants(t) {
		op := pick(v, zopLoadCbneStoreStore, fbLoadCbneStoreStore)
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			val := func(k uintptr) uint64 { return uint64(k)*0x9e3779b97f4a7c15 | 1 }
			refused(t, s, func() (uintptr, int) { return op(s.base(), stride, limit(), 9, recordOff(0), 77, 10) })
			var idx uintptr
			var commits uint64
			interrupted(t, "LoadCbneStoreStore", v, func() {
				k := uintptr(*s.word(idx))
				var st int
				idx, st = call(func() (uintptr, int) { return op(s.base(), stride, limit(), k, recordOff(k), uintptr(val(k)), k+1) })
				if st == zopStatusOK {
					commits++
				}
			}, func() error {
				return published(s, commits, func(k uintptr) []byte { return binary.LittleEndian.AppendUint64(nil, val(k)) })
			})
		})
	}
}

// TestLoadCbneMemcpyStore: a speculative copy of 1 to 32 bytes, then the
// commit; as above, the published records must hold their bytes.
func TestLoadCbneMemcpyStore(t *testing.T) {
	for _, v := range variants(t) {
		op := pick(v, zopLoadCbneMemcpyStore, fbLoadCbneMemcpyStore)
		t.Run(v, func(t *testing.T) {
			s := newSlots()
			content := func(k uintptr) []byte {
				b := make([]byte, 1+k%record)
				for i := range b {
					b[i] = byte(k*7 + uintptr(i)*13 + 1)
				}
				return b
			}
			src := content(31)
			refused(t, s, func() (uintptr, int) {
				return op(s.base(), stride, limit(), 9, recordOff(0), unsafe.Pointer(&src[0]), uintptr(len(src)), 10)
			})
			var idx uintptr
			var commits uint64
			interrupted(t, "LoadCbneMemcpyStore", v, func() {
				k := uintptr(*s.word(idx))
				src := content(k)
				var st int
				idx, st = call(func() (uintptr, int) {
					return op(s.base(), stride, limit(), k, recordOff(k), unsafe.Pointer(&src[0]), uintptr(len(src)), k+1)
				})
				if st == zopStatusOK {
					commits++
				}
			}, func() error { return published(s, commits, content) })
		})
	}
}

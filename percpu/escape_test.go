//go:build linux

package percpu

import (
	"os/exec"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/gorseq/rseq/rseqop/rseqoptest"
)

// TestGeneratedOpsEscape proves the escape annotation of every generated op
// from the compiler's escape analysis (rseqoptest.CheckEscapes): the ops
// that keep a pointer argument (poolPut, the PoolPush and PoolPop ops, ...)
// let it escape, and so do the hot ops whose slow paths keep theirs
// (counterAddSlow: the Counter's mutex, which the runtime's semaphore table
// may hold by address).
func TestGeneratedOpsEscape(t *testing.T) {
	rseqoptest.CheckEscapes(t, zopPackage)
}

// TestPutArgumentsEscape: the compiler reports the objects a user Puts as
// escaping to the heap, for the shapes that were kept on the caller's stack
// while poolPut was declared //go:noescape (testdata/escapeuser: a fresh
// object put at once, the idiomatic Get-or-allocate in a goroutine).
func TestPutArgumentsEscape(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	for _, arch := range []string{"amd64", "arm64"} {
		cmd := exec.Command(gobin, "build", "-gcflags=-m", "./testdata/escapeuser")
		cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("GOARCH=%s go build -gcflags=-m: %v\n%s", arch, err, out)
		}
		for _, want := range []string{`new\(Obj\) escapes to heap`, `&Buf\{\} escapes to heap`} {
			if !regexp.MustCompile(`testdata/escapeuser/user\.go:\d+:\d+: ` + want).Match(out) {
				t.Errorf("GOARCH=%s: no %q in:\n%s", arch, want, grepLines(string(out), "user.go"))
			}
		}
	}
}

// escObj is an object a caller could allocate on its stack: small, with no
// pointers, created and Put in one function that nothing else makes it
// escape from.
type escObj struct {
	magic uint64
	self  uint64    // magic ^ escMagic: both words must survive
	_     [6]uint64 // the size of a small real object
}

const escMagic = 0x5eed_c0ffee_5eed

func (o *escObj) valid() bool { return o.magic^o.self == escMagic }

//go:noinline
func putFresh(p *Pool[escObj], i uint64) {
	o := new(escObj)
	o.magic, o.self = i, i^escMagic
	p.Put(o)
}

// getOrAllocate holds four objects at once, each from Get or, when the
// pool has none, allocated, and puts them back.
//
//go:noinline
func getOrAllocate(p *Pool[escObj], i uint64) {
	var held [4]*escObj
	for k := range held {
		b, ok := p.Get()
		if !ok {
			b = &escObj{}
		}
		if b.magic != 0 && !b.valid() {
			panic("percpu test: Get returned an object that is not an escObj")
		}
		b.magic, b.self = i, i^escMagic
		held[k] = b
	}
	for _, b := range held {
		p.Put(b)
	}
}

// scribble overwrites depth frames of the calling goroutine's stack with a
// pattern that is neither a valid object nor a heap pointer.
//
//go:noinline
func scribble(depth int) uint64 {
	var a [256]uint64
	for i := range a {
		a[i] = 0x7777_7777_7777_7777 ^ uint64(i)
	}
	if depth > 0 {
		return scribble(depth-1) + a[depth%len(a)]
	}
	return a[0]
}

// TestPoolPutStackCandidates puts objects the compiler could have kept on
// the caller's stack, from goroutines that then exit, reuses their stacks
// (scribbling goroutines), collects garbage, and checks every object the
// pool holds and every Get returns: each must still be what was put. With
// poolPut declared //go:noescape this read the scribble pattern or code
// addresses, or the collector died with "found bad pointer in Go heap".
// Every mode runs it (cgo, no cgo, glibc's registration off, race, purego,
// the VMs).
func TestPoolPutStackCandidates(t *testing.T) {
	for _, put := range []struct {
		name string
		fn   func(*Pool[escObj], uint64)
	}{{"fresh", putFresh}, {"getOrAllocate", getOrAllocate}} {
		t.Run(put.name, func(t *testing.T) {
			p := &Pool[escObj]{PerCPU: 64}
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Go(func() {
					for i := range 8 {
						put.fn(p, uint64(g*8+i+1))
					}
				})
			}
			wg.Wait()
			for range 64 {
				wg.Go(func() { scribble(32) })
			}
			wg.Wait()
			scribble(32)
			runtime.GC()
			runtime.GC()
			held := p.storage().pooled()
			if len(held) == 0 {
				t.Fatal("the pool holds nothing: the test checked no object")
			}
			for _, o := range held {
				if !o.valid() {
					t.Fatalf("a pooled object was overwritten: %#x %#x (an object on a reused stack)", o.magic, o.self)
				}
			}
			gets := 0
			for range len(held) {
				o, ok := p.Get()
				if !ok {
					continue
				}
				gets++
				if !o.valid() {
					t.Fatalf("Get returned an overwritten object: %#x %#x", o.magic, o.self)
				}
			}
			t.Logf("%d objects pooled and checked, %d returned by Get", len(held), gets)
		})
	}
}

package cbench

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

// TestAddExact: the C critical section counts every add exactly, from
// several threads at once, in both index fields.
func TestAddExact(t *testing.T) {
	if !Available() {
		t.Skip("no glibc rseq registration in this build")
	}
	const limit, n, workers = 1024, 200000, 4
	for _, off := range []uintptr{4, 24} {
		slots := make([]int64, limit*512)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				for range 10 {
					if a := Add(unsafe.Pointer(&slots[0]), limit, off, n/10); a < 0 {
						t.Errorf("index out of range at offset %d", off)
						return
					}
				}
			}()
		}
		wg.Wait()
		var sum int64
		for _, v := range slots {
			sum += v
		}
		if sum != n*workers {
			t.Errorf("offset %d: slots sum to %d, want %d", off, sum, n*workers)
		}
	}
	// Out of range is reported, nothing added.
	slots := make([]int64, 8)
	if a := Add(unsafe.Pointer(&slots[0]), 0, 4, 1); a != -1 || slots[0] != 0 {
		t.Errorf("limit 0: got %d, slot %d", a, slots[0])
	}
}

//go:build linux

package percpu

import (
	"runtime"
	"sync"
	"testing"
)

// checkStructuresExact runs the structures through a short concurrent
// workload and checks exact results; the mode tests call it in children
// under unusual conditions (no rseq, one CPU with a high id).
func checkStructuresExact(t *testing.T) {
	t.Helper()
	var c Counter
	var p Pool[int]
	const perG = 20000
	n := 4*runtime.GOMAXPROCS(0) + 1
	var wg sync.WaitGroup
	var mu sync.Mutex
	var resets int64
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g%2 == 0 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			x := new(int)
			for i := 0; i < perG; i++ {
				c.Add(3)
				if i%1000 == 0 {
					r := c.Reset()
					mu.Lock()
					resets += r
					mu.Unlock()
				}
				p.Put(x)
				if y, ok := p.Get(); ok {
					x = y
				} else {
					x = new(int)
				}
			}
		}()
	}
	wg.Wait()
	if got, want := resets+c.Load(), int64(3*perG*n); got != want {
		t.Fatalf("Counter: resets + Load = %d, want %d", got, want)
	}
	checkShardedExact(t)
}

package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorseq/rseq/percpu"
)

// runDemo counts from 4×GOMAXPROCS goroutines for d with a percpu.Counter,
// resetting it now and then, and shows that the per-slot totals add up
// exactly to the adds made, and how many times the kernel restarted the
// critical section meanwhile.
func runDemo(d time.Duration) {
	var c percpu.Counter
	var made, resets atomic.Int64
	abortsBefore := counterAborts()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	n := 4 * runtime.GOMAXPROCS(0)
	start := time.Now()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine int64
			for {
				for i := 0; i < 1000; i++ {
					c.Inc()
				}
				mine += 1000
				select {
				case <-stop:
					made.Add(mine)
					return
				default:
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d / 5)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				resets.Add(c.Reset())
			}
		}
	}()
	time.Sleep(d)
	close(stop)
	wg.Wait()
	el := time.Since(start)
	slots, overflow := c.PerSlot()
	fmt.Printf("\nLive: %d goroutines counting for %v with percpu.Counter\n", n, d)
	fmt.Printf("  adds made:              %d (%.1f M/s)\n", made.Load(), float64(made.Load())/el.Seconds()/1e6)
	fmt.Printf("  Reset totals + Load():  %d + %d = %d  (exact: %v)\n", resets.Load(), c.Load(), resets.Load()+c.Load(), resets.Load()+c.Load() == made.Load())
	fmt.Printf("  per slot (%s) since the last Reset:", percpu.Status().Index)
	for i, v := range slots {
		if v != 0 {
			fmt.Printf(" [%d]=%d", i, v)
		}
	}
	fmt.Printf(" overflow=%d\n", overflow)
	fmt.Printf("  restarts of the critical section (aborts) meanwhile: %d\n", counterAborts()-abortsBefore)
}

func counterAborts() uint64 {
	var n uint64
	for _, s := range percpu.OpStats() {
		if s.Name == "CounterAdd" || s.Name == "LoadAddLoadLoadAddStore" { // Add's hot op and its slow path
			n += s.Aborts
		}
	}
	return n
}

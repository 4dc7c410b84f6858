package testutil

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// PressureOptions configures StartPressure.
type PressureOptions struct {
	// Spinners is the number of busy goroutines (not locked to threads) that
	// oversubscribe the Ps, so the scheduler preempts and moves goroutines
	// between threads; the runtime preempts them asynchronously with SIGURG.
	Spinners int
	// GC runs runtime.GC in a loop, GCInterval apart (0: back to back).
	GC         bool
	GCInterval time.Duration
	// Allocators is the number of goroutines that allocate short-lived
	// garbage (pointerful, so the GC has to scan it).
	Allocators int
}

// Pressure keeps the scheduler and the garbage collector busy. Start it with
// StartPressure; Stop ends it.
type Pressure struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	gcs  atomic.Int64
	spin atomic.Int64
}

// StartPressure starts the goroutines opts asks for and registers Stop with
// tb.Cleanup.
func StartPressure(tb testing.TB, opts PressureOptions) *Pressure {
	p := &Pressure{stop: make(chan struct{})}
	for range opts.Spinners {
		p.wg.Add(1)
		go p.spinner()
	}
	for range opts.Allocators {
		p.wg.Add(1)
		go p.allocator()
	}
	if opts.GC {
		p.wg.Add(1)
		go p.gcLoop(opts.GCInterval)
	}
	tb.Cleanup(func() { p.Stop() })
	return p
}

func (p *Pressure) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *Pressure) spinner() {
	defer p.wg.Done()
	x := uint64(1)
	for !p.stopped() {
		for range 10000 { // no calls inside: only asynchronous preemption moves it off its P
			x = x*6364136223846793005 + 1442695040888963407
		}
		p.spin.Add(1)
	}
	sink.Store(x)
}

var sink atomic.Uint64

func (p *Pressure) allocator() {
	defer p.wg.Done()
	type node struct {
		next *node
		_    [48]byte // makes each node a 64-byte allocation
	}
	var keep *node
	for i := 0; !p.stopped(); i++ {
		n := &node{next: keep}
		keep = n
		if i%1024 == 0 {
			keep = nil
		}
	}
	runtime.KeepAlive(keep)
}

func (p *Pressure) gcLoop(interval time.Duration) {
	defer p.wg.Done()
	for !p.stopped() {
		runtime.GC()
		p.gcs.Add(1)
		if interval > 0 {
			select {
			case <-p.stop:
			case <-time.After(interval):
			}
		}
	}
}

// GCs returns how many runtime.GC calls the GC loop completed.
func (p *Pressure) GCs() int64 { return p.gcs.Load() }

// Stop ends the pressure and waits for its goroutines. It may be called more
// than once.
func (p *Pressure) Stop() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
	})
}

// SetGCPercent sets debug.SetGCPercent(percent) for the rest of the test and
// restores the previous value in tb.Cleanup. SetGCPercent(tb, 1) makes the
// collector run almost continuously under allocation.
func SetGCPercent(tb testing.TB, percent int) {
	old := debug.SetGCPercent(percent)
	tb.Cleanup(func() { debug.SetGCPercent(old) })
}

// Command piechild is built by TestNonCgoPIE (percpu/pie_test.go) with
// CGO_ENABLED=0 -buildmode=pie: the dynamic loader registers rseq for the
// main thread before Go starts, so the main thread's registration belongs
// to someone else. It prints what it finds, one "key value" per line, and
// exits 0 if everything held.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/gorseq/rseq/percpu"
	"github.com/gorseq/rseq/rseqop"
)

func init() {
	runtime.LockOSThread() // main runs on the main thread
}

func main() {
	failed := false
	check := func(ok bool, format string, args ...any) {
		if !ok {
			failed = true
			fmt.Printf("FAIL "+format+"\n", args...)
		}
	}
	s := percpu.Status()
	fmt.Printf("status %v\n", s)
	check(s.Mode == rseqop.ModeSelf && s.FastPath, "mode %v fast path %v, want self with the fast path", s.Mode, s.FastPath)

	th := rseqop.Pin()
	fmt.Printf("main-thread-err %v\n", th.Err())
	th.Unpin()
	if th.Err() == nil {
		// glibc < 2.35: the loader does not register rseq.
		fmt.Println("SKIP the main thread registered: the dynamic loader did not register it first")
		return
	}

	// Workers on threads of their own (not the main thread) and the main
	// thread add at once: the workers on the fast path, the main thread on
	// the fallback; the total must be exact.
	const workers, adds = 4, 200_000
	var c percpu.Counter
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			th := rseqop.Pin()
			if th.Err() != nil || th.Area() == nil || th.CPU() < 0 {
				errs <- fmt.Errorf("worker thread: Pin: %v (area %p)", th.Err(), th.Area())
			}
			th.Unpin()
			for range adds {
				c.Add(1)
			}
		}()
	}
	for range adds {
		c.Add(1)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(false, "%v", err)
	}
	check(c.Load() == (workers+1)*adds, "counter %d, want %d", c.Load(), (workers+1)*adds)

	registered, stray := 0, 0
	for _, ti := range rseqop.Threads() {
		switch {
		case ti.TID == os.Getpid():
			check(!ti.Registered && ti.Err != nil, "main thread listed as %+v, want stray", ti)
			stray++
		case ti.Registered:
			registered++
		}
	}
	fmt.Printf("registered-threads %d\nstray-main %d\nstray-threads %d\n", registered, stray, percpu.Status().StrayThreads)
	check(registered >= 1 && stray == 1, "%d registered threads and %d stray main thread, want >= 1 and 1", registered, stray)
	if failed {
		os.Exit(1)
	}
	fmt.Println("ok")
}

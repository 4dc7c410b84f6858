//go:build cgo && linux

package libc

import (
	"runtime"
	"testing"
	"time"

	"github.com/gorseq/rseq/internal/testutil"
)

// TestThreadWatch: a watched thread that exits is reported dead (by its
// pthread key destructor, before its TLS goes), and its TLS is never read
// afterwards; a new thread's ownership word starts at 0.
func TestThreadWatch(t *testing.T) {
	type watched struct {
		w     ThreadWatch
		word  *uint32
		tid   int
		owner uintptr
	}
	got := make(chan watched)
	release := make(chan struct{})
	worker := func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		w, err := WatchThread()
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		owner := OwnerWord()
		SetOwnerWord(42)
		// The word to read lies in this thread's TLS: __rseq_abi's cpu_id.
		got <- watched{w, (*uint32)(LegacyArea()), testutil.CurrentTID(), owner}
		<-release
	}
	go worker() // not on the main thread: TestMain keeps it
	wt, ok := <-got
	if !ok {
		return
	}
	if wt.owner != 0 {
		t.Errorf("a new thread's ownership word is %#x, want 0", wt.owner)
	}
	if wt.w.Dead() {
		t.Fatal("watch dead while its thread runs")
	}
	if _, ok := wt.w.LoadUint32(wt.word); !ok {
		t.Fatal("LoadUint32 refused a live thread's word")
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for !wt.w.Dead() {
		if time.Now().After(deadline) {
			t.Fatalf("thread %d exited 10 s ago and its watch is not dead", wt.tid)
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := wt.w.LoadUint32(wt.word); ok {
		t.Error("LoadUint32 read an exited thread's TLS")
	}
	wt.w.Release() // freed now: the thread is dead
	if OwnerWord() == 42 {
		t.Error("the ownership word is shared between threads")
	}
}

// TestThreadWatchStop: a watch stopped by its own thread no longer fires.
func TestThreadWatchStop(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for range 1000 {
			w, err := WatchThread()
			if err != nil {
				t.Error(err)
				return
			}
			w.Stop()
		}
	}()
	<-done
}

// TestThreadWatchReleasedWhileAlive: a watch released by another thread while
// its thread runs is freed by that thread's exit destructor, once, and not
// before (the destructor writes to it). Freeing it at the release made the
// destructor write to freed memory (heap corruption in a seccomp child);
// leaving it leaked it. Several threads end at once to race the destructors.
func TestThreadWatchReleasedWhileAlive(t *testing.T) {
	const n = 8
	before := watchesFreedAtExit()
	watches := make(chan ThreadWatch)
	exit := make(chan struct{})
	for range n {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			w, err := WatchThread()
			if err != nil {
				t.Error(err)
			}
			watches <- w
			<-exit
		}()
	}
	for range n {
		w := <-watches
		if !w.Valid() {
			continue
		}
		if w.Dead() {
			t.Fatal("watch dead while its thread runs")
		}
		w.Release()
	}
	if got := watchesFreedAtExit() - before; got != 0 {
		t.Fatalf("%d watches freed by their threads' exit before any thread exited", got)
	}
	close(exit)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := watchesFreedAtExit() - before
		if got == n {
			break
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%d of %d released watches freed by their threads' exit (10 s after the threads were told to end)", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

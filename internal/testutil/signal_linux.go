package testutil

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SignalStormOptions configures StartSignalStorm.
type SignalStormOptions struct {
	// Signal is sent with tgkill(2). The zero value means SIGURG, which the
	// Go runtime already handles (it is its preemption signal) and ignores
	// where it cannot preempt, such as inside assembly functions. Any other
	// signal is routed to a channel with signal.Notify for the duration of
	// the storm, so it never takes its default action.
	Signal syscall.Signal
	// TIDs names the target threads; it is called before every round. nil
	// means every thread of the process (ThreadIDs).
	TIDs func() []int
	// Interval is the pause between two rounds; 0 sends back to back, with
	// only a runtime.Gosched between rounds (one CPU stays busy sending).
	Interval time.Duration
}

// SignalStats counts what a storm did.
type SignalStats struct {
	Sent int64 // successful tgkill calls
	// Delivered counts signals the Go runtime's handler ran for and passed
	// to signal.Notify. Pending signals of one kind coalesce, so Delivered
	// is usually below Sent; with SIGURG it also counts the runtime's own
	// preemption signals.
	Delivered int64
	Lost      int64 // tgkill calls that found the thread gone (ESRCH)
}

// SignalStorm interrupts threads with a signal at a high rate, which forces
// every rseq critical section they are in to abort. Start one with
// StartSignalStorm.
type SignalStorm struct {
	sig       syscall.Signal
	ch        chan os.Signal
	stop      chan struct{}
	wg        sync.WaitGroup
	once      sync.Once
	sent      atomic.Int64
	delivered atomic.Int64
	lost      atomic.Int64
	errMu     sync.Mutex
	firstErr  error
}

// StartSignalStorm starts sending and registers Stop with tb.Cleanup.
func StartSignalStorm(tb testing.TB, opts SignalStormOptions) *SignalStorm {
	s := &SignalStorm{sig: opts.Signal, ch: make(chan os.Signal, 1024), stop: make(chan struct{})}
	if s.sig == 0 {
		s.sig = unix.SIGURG
	}
	tids := opts.TIDs
	if tids == nil {
		tids = ThreadIDs
	}
	signal.Notify(s.ch, s.sig)
	s.wg.Add(2)
	go func() { // counter
		defer s.wg.Done()
		for {
			select {
			case <-s.ch:
				s.delivered.Add(1)
			case <-s.stop:
				return
			}
		}
	}()
	go s.send(tids, opts.Interval)
	tb.Cleanup(func() {
		if _, err := s.Stop(); err != nil {
			tb.Errorf("testutil: signal storm: %v", err)
		}
	})
	return s
}

func (s *SignalStorm) send(tids func() []int, interval time.Duration) {
	defer s.wg.Done()
	pid := os.Getpid()
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		for _, tid := range tids() {
			err := unix.Tgkill(pid, tid, s.sig)
			switch {
			case err == nil:
				s.sent.Add(1)
			case errors.Is(err, unix.ESRCH):
				s.lost.Add(1)
			default:
				s.errMu.Lock()
				if s.firstErr == nil {
					s.firstErr = err
				}
				s.errMu.Unlock()
			}
		}
		if tick == nil {
			select {
			case <-s.stop:
				return
			default:
				runtime.Gosched()
			}
		} else {
			select {
			case <-s.stop:
				return
			case <-tick:
			}
		}
	}
}

// Stats returns the counts so far.
func (s *SignalStorm) Stats() SignalStats {
	return SignalStats{Sent: s.sent.Load(), Delivered: s.delivered.Load(), Lost: s.lost.Load()}
}

// Stop ends the storm, waits until no more signals are sent and counts the
// deliveries that arrive within 20ms. A signal other than SIGURG stays ignored
// afterwards (signal.Ignore), so one still pending cannot kill the process.
// Stop may be called more than once.
func (s *SignalStorm) Stop() (SignalStats, error) {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		// Drain what is already queued, then let late deliveries land
		// before the default action would apply again.
		deadline := time.After(20 * time.Millisecond)
	drain:
		for {
			select {
			case <-s.ch:
				s.delivered.Add(1)
			case <-deadline:
				break drain
			}
		}
		signal.Stop(s.ch)
		if s.sig != unix.SIGURG {
			signal.Ignore(s.sig)
		}
	})
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.Stats(), s.firstErr
}

package testutil

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// MigrationOptions configures StartMigrationStorm.
type MigrationOptions struct {
	// Workers is the number of goroutines, each locked to its own OS thread,
	// that move themselves to another CPU (sched_setaffinity on their own
	// thread) before every call of Work.
	Workers int
	// Work, if set, runs on each worker's thread between two moves, with the
	// worker's index. Keep a call short (microseconds to a millisecond): the
	// storm stops between calls.
	Work func(worker int)
	// TIDs, if set, names other threads whose affinity the storm flips from
	// a separate goroutine, so that they migrate while they run whatever
	// they run. It is called before every round, so it may grow (TIDSet.Snapshot)
	// or name every thread of the process (ThreadIDs).
	TIDs func() []int
	// Interval is the pause between two rounds of flips of the TIDs threads;
	// 0 means 50µs.
	Interval time.Duration
}

// MigrationStats counts what a storm did.
type MigrationStats struct {
	Moves      int64 // successful sched_setaffinity calls (workers and other threads)
	WorkCalls  int64 // calls of Work
	LostThread int64 // flips that found their target thread gone (ESRCH)
}

// MigrationStorm moves threads between the CPUs the process may use. Start
// one with StartMigrationStorm; Stop ends it and restores every affinity mask
// it changed.
type MigrationStorm struct {
	cpus     []int
	orig     unix.CPUSet // mask of the starting thread: the mask every touched thread gets back
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	mu       sync.Mutex
	touched  map[int]bool
	moves    atomic.Int64
	work     atomic.Int64
	lost     atomic.Int64
	firstErr error
}

// StartMigrationStorm starts a storm over the CPUs the calling thread may use
// and registers Stop with tb.Cleanup. With fewer than two usable CPUs nothing
// migrates, but workers still run Work.
//
// Guarantees: a worker's thread runs Work on a single-CPU mask that changes
// between calls (round robin, workers start at different CPUs); threads named
// by TIDs have their mask set to one CPU at a time, rotating every Interval.
// After Stop returns no goroutine of the storm runs, every worker thread has
// its original mask back before it is unlocked, and every thread named by
// TIDs that still exists has the mask the starting thread had at Start (a
// thread created while its creator was pinned inherits the pin; restoring
// the process-wide original undoes that too).
func StartMigrationStorm(tb testing.TB, opts MigrationOptions) *MigrationStorm {
	s := &MigrationStorm{stop: make(chan struct{}), touched: map[int]bool{}}
	if err := unix.SchedGetaffinity(0, &s.orig); err != nil {
		tb.Fatalf("testutil: sched_getaffinity: %v", err)
	}
	s.cpus = cpusOf(&s.orig)
	for w := range opts.Workers {
		s.wg.Add(1)
		go s.worker(w, opts.Work)
	}
	if opts.TIDs != nil {
		interval := opts.Interval
		if interval <= 0 {
			interval = 50 * time.Microsecond
		}
		s.wg.Add(1)
		go s.flipper(opts.TIDs, interval)
	}
	tb.Cleanup(func() {
		if _, err := s.Stop(); err != nil {
			tb.Errorf("testutil: migration storm: %v", err)
		}
	})
	return s
}

// CPUs returns the CPUs the storm rotates over.
func (s *MigrationStorm) CPUs() []int { return s.cpus }

func (s *MigrationStorm) worker(w int, work func(int)) {
	defer s.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		s.fail(err)
		return
	}
	defer func() {
		if err := unix.SchedSetaffinity(0, &orig); err != nil {
			s.fail(err)
		}
	}()
	for i := w; ; i++ {
		select {
		case <-s.stop:
			return
		default:
		}
		if len(s.cpus) > 1 {
			if err := unix.SchedSetaffinity(0, setOf(s.cpus[i%len(s.cpus)])); err != nil {
				s.fail(err)
				return
			}
			s.moves.Add(1)
		}
		if work != nil {
			work(w)
			s.work.Add(1)
		} else {
			runtime.Gosched()
		}
	}
}

func (s *MigrationStorm) flipper(tids func() []int, interval time.Duration) {
	defer s.wg.Done()
	if len(s.cpus) < 2 {
		<-s.stop
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for round := 0; ; round++ {
		for j, tid := range tids() {
			s.mu.Lock()
			s.touched[tid] = true
			s.mu.Unlock()
			err := unix.SchedSetaffinity(tid, setOf(s.cpus[(round+j)%len(s.cpus)]))
			switch {
			case err == nil:
				s.moves.Add(1)
			case errors.Is(err, unix.ESRCH):
				s.lost.Add(1)
			default:
				s.fail(err)
			}
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *MigrationStorm) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == nil {
		s.firstErr = err
	}
}

// Stop ends the storm, waits for its goroutines, restores the masks it
// changed and returns what it did with the first error it met. It may be
// called more than once; later calls return the same numbers.
func (s *MigrationStorm) Stop() (MigrationStats, error) {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		for tid := range s.touched {
			if err := unix.SchedSetaffinity(tid, &s.orig); err != nil && !errors.Is(err, unix.ESRCH) && s.firstErr == nil {
				s.firstErr = err
			}
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return MigrationStats{Moves: s.moves.Load(), WorkCalls: s.work.Load(), LostThread: s.lost.Load()}, s.firstErr
}

package percpumax

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The example's own stress helpers (gorseq's internal/testutil is internal
// to its module): a signal storm that interrupts every thread of the
// process, and workers that move their own threads between CPUs.

// signalStorm sends SIGURG (the Go runtime's preemption signal, which it
// ignores where it cannot preempt) to every thread of the process, back to
// back, until stop is closed. Every signal that lands inside a critical
// section aborts it.
func signalStorm(tb testing.TB, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pid := unix.Getpid()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, tid := range threadIDs(tb) {
				_ = unix.Tgkill(pid, tid, unix.SIGURG) // ESRCH: the thread just exited
			}
			runtime.Gosched()
		}
	}()
	return &wg
}

// threadIDs lists the threads of this process.
func threadIDs(tb testing.TB) []int {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		tb.Errorf("listing threads: %v", err)
		return nil
	}
	var ids []int
	for _, e := range ents {
		if id, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// migrator moves the calling thread (locked by the caller) to a random
// allowed CPU every few calls of step.
type migrator struct {
	cpus []int
	rng  *rand.Rand
	n    int
}

func newMigrator(seed uint64) *migrator {
	var set unix.CPUSet
	m := &migrator{rng: rand.New(rand.NewPCG(seed, 7))}
	if unix.SchedGetaffinity(0, &set) == nil {
		for c := 0; c < 1024; c++ {
			if set.IsSet(c) {
				m.cpus = append(m.cpus, c)
			}
		}
	}
	return m
}

// step migrates every 64th call; it returns whether it did.
func (m *migrator) step() bool {
	m.n++
	if m.n%64 != 0 || len(m.cpus) < 2 {
		return false
	}
	var set unix.CPUSet
	set.Set(m.cpus[m.rng.IntN(len(m.cpus))])
	return unix.SchedSetaffinity(0, &set) == nil
}

// restore lets the thread run on every allowed CPU again.
func (m *migrator) restore() {
	var set unix.CPUSet
	for _, c := range m.cpus {
		set.Set(c)
	}
	_ = unix.SchedSetaffinity(0, &set)
}

// deadline is how long a test may insist on seeing an abort: longer in
// the emulated VMs (GORSEQ_VMTEST), which take seconds per abort.
func deadline() time.Duration {
	if os.Getenv("GORSEQ_VMTEST") != "" {
		return 60 * time.Second
	}
	return 30 * time.Second
}

package testutil

import (
	"os"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// CurrentTID returns the id of the OS thread the calling goroutine runs on.
// It is stable only while the goroutine holds runtime.LockOSThread.
func CurrentTID() int { return unix.Gettid() }

// ThreadIDs returns the ids of all threads of the current process, read from
// /proc/self/task, in ascending order.
func ThreadIDs() []int {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return []int{unix.Gettid()}
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	slices.Sort(tids)
	return tids
}

// TIDSet collects the thread ids of goroutines that take part in a test, for
// the storms to aim at. The zero value is ready to use; it is safe for
// concurrent use.
type TIDSet struct {
	mu   sync.Mutex
	tids []int
}

// AddCurrent records the calling goroutine's thread id and returns it. The
// goroutine should hold runtime.LockOSThread for as long as it wants to be a
// target.
func (s *TIDSet) AddCurrent() int {
	tid := unix.Gettid()
	s.Add(tid)
	return tid
}

// Add records tid.
func (s *TIDSet) Add(tid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.tids, tid) {
		s.tids = append(s.tids, tid)
	}
}

// Remove forgets tid.
func (s *TIDSet) Remove(tid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.tids, tid); i >= 0 {
		s.tids = slices.Delete(s.tids, i, i+1)
	}
}

// Snapshot returns a copy of the recorded ids. Its method value fits the
// TIDs fields of MigrationOptions and SignalStormOptions.
func (s *TIDSet) Snapshot() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tids)
}

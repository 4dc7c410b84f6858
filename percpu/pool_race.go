//go:build race

package percpu

// raceEnabled: the race detector is on. The pool then takes locks and
// atomics the race detector understands where it otherwise relies on
// pinning or on critical sections the detector cannot see.
const raceEnabled = true

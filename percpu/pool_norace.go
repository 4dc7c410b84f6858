//go:build !race

package percpu

// raceEnabled: the race detector is off (see pool_race.go).
const raceEnabled = false

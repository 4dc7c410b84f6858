//go:build race

package promrseq

const raceEnabled = true

//go:build !race

package xsk

// raceEnabled reports whether the race detector is on (its instrumentation allocates).
const raceEnabled = false

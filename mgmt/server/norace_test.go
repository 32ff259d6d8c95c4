//go:build !race

package server

// raceEnabled reports whether the race detector is on (its instrumentation makes large tests slow).
const raceEnabled = false

//go:build race

package dataplane

// raceEnabled reports whether the race detector is on (its instrumentation allocates).
const raceEnabled = true

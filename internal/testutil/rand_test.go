package testutil

import "testing"

func TestRandSeed(t *testing.T) {
	t.Setenv("TEST_SEED", "42")
	a, b := Rand(t), Rand(t)
	for range 10 {
		if x, y := a.Uint64(), b.Uint64(); x != y {
			t.Fatalf("same TEST_SEED gave different streams: %d != %d", x, y)
		}
	}
}

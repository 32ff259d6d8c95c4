package testutil

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// Rand returns a deterministic PCG-based generator. The seed comes from the
// environment variable TEST_SEED when set (decimal uint64), otherwise from the
// clock; it is always logged so that a failing run can be replayed with
// TEST_SEED=<seed>.
func Rand(tb testing.TB) *rand.Rand {
	tb.Helper()
	var seed uint64
	if s := os.Getenv("TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("testutil: TEST_SEED=%q is not a decimal uint64: %v", s, err)
		}
		seed = v
	} else {
		seed = uint64(time.Now().UnixNano())
	}
	tb.Logf("random seed: TEST_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

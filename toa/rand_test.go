package toa

import (
	"math/rand/v2"
	"testing"

	"github.com/xdpvs/xdpvs/internal/testutil"
)

func newRand(tb testing.TB) *rand.Rand { return testutil.Rand(tb) }

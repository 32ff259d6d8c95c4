package sched

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/xdpvs/xdpvs/header"
)

var allSchedulers = []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"}

func TestRegistered(t *testing.T) {
	if got := Names(); !slices.Equal(got, allSchedulers) {
		t.Fatalf("Names() = %v, want %v", got, allSchedulers)
	}
}

// randomTuples returns n TCP tuples from random IPv4 sources to one of k destination addresses.
func randomTuples(rng *rand.Rand, n, k int) []header.Tuple {
	out := make([]header.Tuple, n)
	for i := range out {
		u := rng.Uint32()
		d := rng.IntN(k)
		out[i] = header.Tuple{
			SrcAddr: header.AddrFrom4([]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}),
			DstAddr: header.AddrFrom4([]byte{10, 9, byte(d >> 8), byte(d)}),
			SrcPort: uint16(rng.Uint32()), DstPort: 80, Proto: 6,
		}
	}
	return out
}

// randomDests returns n destinations with addresses, random weights (some 0), connection counts
// and a few overloaded.
func randomDests(rng *rand.Rand, n int) []Dest {
	ds := make([]Dest, n)
	for i := range ds {
		ds[i] = Dest{
			Weight:        rng.Int32N(5),
			ActiveConns:   rng.Int32N(20),
			InactiveConns: rng.Int32N(500),
			Overloaded:    rng.IntN(10) == 0,
			Addr:          header.AddrFrom4([]byte{10, 2, byte(i >> 8), byte(i)}),
			Port:          8080,
		}
	}
	return ds
}

// testSeed returns TEST_SEED if set, else a fixed seed, and logs it.
func testSeed(tb testing.TB) uint64 {
	tb.Helper()
	seed := uint64(42)
	if s := os.Getenv("TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("TEST_SEED: %v", err)
		}
		seed = v
	}
	tb.Logf("seed %d (set TEST_SEED to replay)", seed)
	return seed
}

// TestNeverUnavailable checks, for every scheduler and flag, that a quiescent or overloaded
// destination is never chosen, and that when every destination is available every scheduler but
// ovf (whose servers may all be over their weight) chooses one. Connection counts grow as
// connections are added, as a worker's would.
func TestNeverUnavailable(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	for _, name := range allSchedulers {
		for _, flags := range []uint32{0, FlagFallback, FlagPort} {
			for round := range 20 {
				ds := randomDests(rng, 1+rng.IntN(12))
				clk := &fakeClock{}
				s := mustScheduler(t, name, Config{Dests: ds, Flags: flags, Now: clk.Now})
				allOK := true
				for i := range ds {
					allOK = allOK && available(&ds[i])
				}
				for i, tu := range randomTuples(rng, 300, 7) {
					clk.now += 1e9
					j := s.Schedule(&tu, ds)
					if j >= len(ds) || j >= 0 && !available(&ds[j]) {
						t.Fatalf("%s flags %#x round %d tuple %d: chose %d of %+v", name, flags, round, i, j, ds)
					}
					if j < 0 && allOK && name != "ovf" {
						t.Fatalf("%s flags %#x round %d: -1 with every destination available", name, flags, round)
					}
					if j >= 0 {
						ds[j].ActiveConns++
					}
				}
			}
		}
	}
}

// TestAllAllocs checks that Schedule does not allocate, for every scheduler, once lblc and lblcr
// have seen their destination addresses (their tables take memory when they grow).
func TestAllAllocs(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, name := range allSchedulers {
		for _, flags := range []uint32{0, FlagFallback | FlagPort} {
			ds := randomDests(rng, 20)
			ds[0].Weight, ds[0].Overloaded = 3, false
			s := mustScheduler(t, name, Config{Dests: ds, Flags: flags})
			tuples := randomTuples(rng, 256, 64)
			for i := range tuples {
				s.Schedule(&tuples[i], ds)
			}
			i := 0
			if a := testing.AllocsPerRun(1000, func() {
				s.Schedule(&tuples[i%len(tuples)], ds)
				i++
			}); a != 0 {
				t.Errorf("%s flags %#x: %v allocations per Schedule", name, flags, a)
			}
		}
	}
}

// BenchmarkSchedule measures one Schedule per scheduler with 10 and 100 destinations (random weights
// 1..4, connection counts, no overloaded one), over 1024 tuples from random sources to 256
// destination addresses.
func BenchmarkSchedule(b *testing.B) {
	for _, name := range allSchedulers {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, uint64(n)))
				ds := randomDests(rng, n)
				for i := range ds {
					ds[i].Weight, ds[i].Overloaded = 1+rng.Int32N(4), false
				}
				s := mustScheduler(b, name, Config{Dests: ds})
				tuples := randomTuples(rng, 1024, 256)
				for i := range tuples {
					s.Schedule(&tuples[i], ds)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					s.Schedule(&tuples[i&1023], ds)
					i++
				}
			})
		}
	}
}

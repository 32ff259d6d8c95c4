package sched

import (
	"math/rand/v2"

	"github.com/xdpvs/xdpvs/header"
)

func init() {
	Register("twos", func(Config) Table {
		return &perWorker{func() Scheduler { return newTwos(rand.Uint64(), rand.Uint64()) }}
	})
}

// twos is the power of two choices (ip_vs_twos.c): two destinations drawn at random in proportion
// to their weights, and of the two the one with the lower overhead/weight, the first draw on ties.
//
// As the kernel does, each draw r is uniform in [0, total weight] (inclusive: total+1 values, so the
// first available destination is drawn with probability (w+1)/(total+1)), and the destination drawn
// is the first whose running weight sum reaches r. The random numbers come from a PCG private to the
// instance (the kernel calls get_random_u32), so an instance needs no lock.
type twos struct {
	rng rand.PCG
}

func newTwos(seed1, seed2 uint64) *twos {
	s := &twos{}
	s.rng.Seed(seed1, seed2)
	return s
}

func (s *twos) Schedule(_ *header.Tuple, dests []Dest) int {
	return twosPick(dests, uint32(s.rng.Uint64()), uint32(s.rng.Uint64()))
}

// twosPick is the choice of ip_vs_twos.c given its two random numbers.
func twosPick(dests []Dest, rand1, rand2 uint32) int {
	var total uint64
	for i := range dests {
		if d := &dests[i]; available(d) {
			total += uint64(d.Weight)
		}
	}
	if total == 0 {
		return -1
	}
	total++
	r1, r2 := int64(uint64(rand1)%total), int64(uint64(rand2)%total)
	c1, c2 := -1, -1
	var w1, w2, oh1, oh2 int64
	for i := range dests {
		d := &dests[i]
		if !available(d) {
			continue
		}
		w := int64(d.Weight)
		r1 -= w
		r2 -= w
		if r1 <= 0 && c1 < 0 {
			c1, w1, oh1 = i, w, overhead(d)
		}
		if r2 <= 0 && c2 < 0 {
			c2, w2, oh2 = i, w, overhead(d)
		}
		if c1 >= 0 && c2 >= 0 {
			break
		}
	}
	if c2 >= 0 && w2*oh1 > w1*oh2 {
		return c2
	}
	return c1
}

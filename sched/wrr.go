package sched

import (
	"sort"
	"sync/atomic"

	"github.com/xdpvs/xdpvs/header"
)

// wrr is weighted round robin with the sequence of ip_vs_wrr.c: the current weight cw starts at the
// largest weight mw and steps down by the gcd di of the weights; at each level the destinations
// whose weight is at least cw are chosen in order. One cycle chooses each destination weight/di
// times.
//
// The kernel walks that sequence with a cursor under a lock; here the k-th choice of the cycle is
// computed directly from k, so that the workers share one atomic position and the director as a
// whole follows the kernel's sequence. An overloaded destination is skipped for the next one at
// the same level.
type wrr struct {
	pos    *atomic.Uint64
	order  []int   // destinations with weight > 0 by descending weight (stable), for counting
	levels []int32 // levels[l] = cw of level l: mw, mw-di, ..., di
	cum    []uint64
	total  uint64
}

func init() {
	Register("wrr", func(cfg Config) Scheduler { return newWRR(cfg) })
}

func newWRR(cfg Config) *wrr {
	s := &wrr{pos: position(cfg)}
	mw, di := maxWeight(cfg.Dests), gcdWeight(cfg.Dests)
	if mw <= 0 {
		return s
	}
	for i, d := range cfg.Dests {
		if d.Weight > 0 {
			s.order = append(s.order, i)
		}
	}
	sort.SliceStable(s.order, func(a, b int) bool { return cfg.Dests[s.order[a]].Weight > cfg.Dests[s.order[b]].Weight })
	// Level l (cw = mw - l*di) chooses every destination of weight >= cw.
	n := 0
	for cw := mw; cw > 0; cw -= di {
		for n < len(s.order) && cfg.Dests[s.order[n]].Weight >= cw {
			n++
		}
		s.levels = append(s.levels, cw)
		s.total += uint64(n)
		s.cum = append(s.cum, s.total)
	}
	return s
}

func (s *wrr) Schedule(_ *header.Tuple, dests []Dest) int {
	if s.total == 0 {
		return -1
	}
	for try := 0; try < len(dests)+1; try++ {
		k := (s.pos.Add(1) - 1) % s.total
		l := sort.Search(len(s.cum), func(i int) bool { return s.cum[i] > k })
		skip := k
		if l > 0 {
			skip -= s.cum[l-1]
		}
		// The skip-th destination, in configuration order, of weight >= levels[l].
		for j := range dests {
			if dests[j].Weight >= s.levels[l] {
				if skip == 0 {
					if !dests[j].Overloaded {
						return j
					}
					break
				}
				skip--
			}
		}
	}
	return -1
}

func maxWeight(dests []Dest) int32 {
	var m int32
	for i := range dests {
		m = max(m, dests[i].Weight)
	}
	return m
}

func gcdWeight(dests []Dest) int32 {
	var g int32
	for i := range dests {
		if w := dests[i].Weight; w > 0 {
			g = gcd(g, w)
		}
	}
	if g == 0 {
		return 1
	}
	return g
}

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

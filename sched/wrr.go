package sched

import (
	"slices"
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
//
// The levels come in runs: between two consecutive distinct weights w > w' (w' = 0 after the
// smallest), the (w-w')/di levels cw = w, w-di, ..., w'+di all choose the same destinations, those
// of weight >= w. The table holds one run per distinct weight, not one entry per level, so its
// size follows the number of destinations whatever the weights ({1, 65535} was 65,535 levels,
// 768 KiB per service).
type wrr struct {
	pos  *atomic.Uint64
	runs []wrrRun // by descending weight
	// ends[r] is the position in the cycle just after run r: the choices of runs 0..r.
	ends  []uint64
	total uint64 // choices in one cycle: the sum of weight/di
}

// wrrRun is the levels whose destinations are those of weight >= weight: n of them.
type wrrRun struct {
	weight int32
	n      uint64
}

func init() {
	Register("wrr", func(cfg Config) Table { return shared{newWRR(cfg)} })
}

func newWRR(cfg Config) *wrr {
	s := &wrr{pos: position(cfg)}
	di := gcdWeight(cfg.Dests)
	var ws []int32
	for _, d := range cfg.Dests {
		if d.Weight > 0 {
			ws = append(ws, d.Weight)
		}
	}
	slices.SortFunc(ws, func(a, b int32) int { return int(b) - int(a) })
	for i := 0; i < len(ws); {
		w := ws[i]
		for i < len(ws) && ws[i] == w {
			i++
		}
		next := int32(0)
		if i < len(ws) {
			next = ws[i]
		}
		// Levels w, w-di, ..., next+di: (w-next)/di of them, each choosing the i destinations
		// of weight >= w.
		s.total += uint64((w-next)/di) * uint64(i)
		s.runs = append(s.runs, wrrRun{weight: w, n: uint64(i)})
		s.ends = append(s.ends, s.total)
	}
	return s
}

func (s *wrr) Schedule(_ *header.Tuple, dests []Dest) int {
	if s.total == 0 {
		return -1
	}
	for try := 0; try < len(dests)+1; try++ {
		k := (s.pos.Add(1) - 1) % s.total
		r := sort.Search(len(s.ends), func(i int) bool { return s.ends[i] > k })
		if r > 0 {
			k -= s.ends[r-1]
		}
		// The skip-th destination, in configuration order, of weight >= the run's.
		skip, cw := k%s.runs[r].n, s.runs[r].weight
		for j := range dests {
			if dests[j].Weight >= cw {
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

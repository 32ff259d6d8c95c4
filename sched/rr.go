package sched

import (
	"sync/atomic"

	"github.com/xdpvs/xdpvs/header"
)

// rr is round robin (ip_vs_rr.c): the destinations with a non-zero weight in turn, skipping an
// overloaded one. The turn is a counter every worker shares.
type rr struct {
	pos   *atomic.Uint64
	avail []int // indices of destinations with weight > 0, in order
}

func init() {
	Register("rr", func(cfg Config) Table {
		s := &rr{pos: position(cfg)}
		for i, d := range cfg.Dests {
			if d.Weight > 0 {
				s.avail = append(s.avail, i)
			}
		}
		return shared{s}
	})
}

func (s *rr) Schedule(_ *header.Tuple, dests []Dest) int {
	n := uint64(len(s.avail))
	if n == 0 {
		return -1
	}
	p := s.pos.Add(1) - 1
	for i := range n {
		if j := s.avail[(p+i)%n]; !dests[j].Overloaded {
			return j
		}
	}
	return -1
}

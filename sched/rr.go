package sched

import "github.com/xdpvs/xdpvs/header"

// rr is round robin (ip_vs_rr.c): the next destination after the last one chosen, skipping
// quiescent (weight 0) and overloaded ones.
type rr struct {
	last int
}

func init() { Register("rr", func(Config) Scheduler { return &rr{last: -1} }) }

func (s *rr) Schedule(_ *header.Tuple, dests []Dest) int {
	n := len(dests)
	for i := 1; i <= n; i++ {
		j := (s.last + i) % n
		if d := &dests[j]; d.Weight > 0 && !d.Overloaded {
			s.last = j
			return j
		}
	}
	return -1
}

package sched

import "github.com/xdpvs/xdpvs/header"

// wrr is weighted round robin as ip_vs_wrr.c does it: the current weight cw starts at the maximum
// weight and steps down by the gcd of all weights each time the index wraps; a destination is
// chosen when its weight is at least cw. Over one cycle each destination is chosen weight/gcd times.
type wrr struct {
	cl   int   // index of the last destination chosen; len-1 at the start, like the kernel's list head
	cw   int32 // current weight
	mw   int32 // maximum weight
	di   int32 // gcd of the weights
	seen int   // number of destinations the state was built for
}

func init() { Register("wrr", func(cfg Config) Scheduler { s := &wrr{}; s.reset(cfg.Dests); return s }) }

func (s *wrr) reset(dests []Dest) {
	s.cl, s.cw, s.mw, s.di, s.seen = len(dests)-1, 0, maxWeight(dests), gcdWeight(dests), len(dests)
}

func (s *wrr) Schedule(_ *header.Tuple, dests []Dest) int {
	if s.seen != len(dests) {
		s.reset(dests)
	}
	n := len(dests)
	if n == 0 || s.mw <= 0 {
		return -1
	}
	// Bounded: at most mw/di passes over the list, as in the kernel, then give up.
	for steps := 0; steps <= n*int(s.mw/s.di+1); steps++ {
		s.cl++
		if s.cl >= n {
			s.cl = 0
			s.cw -= s.di
			if s.cw <= 0 {
				s.cw = s.mw
			}
		}
		if d := &dests[s.cl]; d.Weight >= s.cw && !d.Overloaded {
			return s.cl
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

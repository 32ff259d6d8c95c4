package sched

import "github.com/xdpvs/xdpvs/header"

func init() {
	Register("fo", func(Config) Table { return shared{fo{}} })
	Register("ovf", func(Config) Table { return shared{ovf{}} })
}

// fo is weighted failover (ip_vs_fo.c): the available destination of highest weight, the first
// one on ties. Connection counts are not read.
type fo struct{}

func (fo) Schedule(_ *header.Tuple, dests []Dest) int {
	h := -1
	for i := range dests {
		d := &dests[i]
		if available(d) && (h < 0 || d.Weight > dests[h].Weight) {
			h = i
		}
	}
	return h
}

// ovf is overflow (ip_vs_ovf.c): the available destination of highest weight (the first on ties)
// among those whose active connections do not exceed their weight; the kernel skips a destination
// when activeconns > weight, so one at exactly its weight still takes the next connection. The
// active count is the calling worker's (see lc).
type ovf struct{}

func (ovf) Schedule(_ *header.Tuple, dests []Dest) int {
	h := -1
	for i := range dests {
		d := &dests[i]
		if !available(d) || d.ActiveConns > d.Weight {
			continue
		}
		if h < 0 || d.Weight > dests[h].Weight {
			h = i
		}
	}
	return h
}

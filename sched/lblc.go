package sched

import "github.com/xdpvs/xdpvs/header"

func init() {
	Register("lblc", func(cfg Config) Table {
		cfg = Config{Now: cfg.Now} // all an instance needs
		return &perWorker{func() Scheduler { return &lblc{tab: newAddrTable(cfg, lblcMaxEntries)} }}
	})
}

// lblc is locality-based least-connection (ip_vs_lblc.c), for cache clusters: each destination
// address of the connections (the tuple's DstAddr) sticks to one real server. An address seen for
// the first time, or whose server is quiescent, overloaded or "overloaded with a less loaded server
// available" (its active connections exceed its weight while some server has fewer than half its
// weight in active connections), gets the wlc choice, which replaces the table entry.
//
// Entries age as in the kernel: one unused for lblc_expiration (24 h) is removed by the full check
// that runs every 30 minutes, and when the table holds its maximum of 16384 entries those unused for
// 6 minutes are collected to make room (see addrTable). The table belongs to the instance, that is
// to one worker: each worker learns its own mapping, from its own connection counts.
type lblc struct {
	tab addrTable
}

// lblcOverloaded is ip_vs_lblc.c's and ip_vs_lblcr.c's is_overloaded.
func lblcOverloaded(dests []Dest, j int) bool {
	if dests[j].ActiveConns <= dests[j].Weight {
		return false
	}
	for i := range dests {
		if int64(dests[i].ActiveConns)*2 < int64(dests[i].Weight) {
			return true
		}
	}
	return false
}

func (s *lblc) Schedule(t *header.Tuple, dests []Dest) int {
	now := s.tab.now()
	s.tab.expire(now)
	e := s.tab.get(&t.DstAddr)
	if e >= 0 {
		en := &s.tab.ents[e]
		en.lastuse = now
		if j := int(en.dest); j < len(dests) && available(&dests[j]) && !lblcOverloaded(dests, j) {
			return j
		}
	}
	j := weightedLeast(dests, false)
	if j < 0 {
		return -1
	}
	if e < 0 {
		e = s.tab.insert(&t.DstAddr, now)
	}
	if e >= 0 {
		s.tab.ents[e].dest = int32(j)
	}
	return j
}

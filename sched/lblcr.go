package sched

import "github.com/xdpvs/xdpvs/header"

// lblcrMaxSet caps the servers of one destination address's set. The kernel's sets are bounded
// only by the number of servers; with more than 16 servers a set that would grow past 16 first
// loses its most loaded member.
const lblcrMaxSet = 16

func init() {
	Register("lblcr", func(cfg Config) Table { return &perWorker{func() Scheduler { return newLBLCR(cfg) }} })
}

// lblcr is locality-based least-connection with replication (ip_vs_lblcr.c): each destination
// address (the tuple's DstAddr) has a set of real servers, and goes to the least loaded
// (overhead/weight) of them. When that one is "overloaded with a less loaded server available"
// (see lblc) or the set has none available, the wlc choice over all servers is added to the set and
// chosen. When the set has more than one server and has not changed for lblcr_expiration (24 h, the
// kernel's default; it is not the 6-minute ENTRY_TIMEOUT, which only ages whole entries when the
// table is full), its most loaded server is removed. Sets keep the kernel's order, the newest
// member first, which decides ties.
//
// Entries age as lblc's do, and the table is likewise per worker.
type lblcr struct {
	tab    addrTable
	stride int     // set capacity per entry
	sets   []int32 // the set of entry e: sets[e*stride:][:size], newest first
}

func newLBLCR(cfg Config) *lblcr {
	return &lblcr{tab: newAddrTable(cfg, lblcMaxEntries), stride: max(min(len(cfg.Dests), lblcrMaxSet), 1)}
}

func (s *lblcr) set(e int32) []int32 {
	return s.sets[int(e)*s.stride:][:s.tab.ents[e].dest]
}

func (s *lblcr) Schedule(t *header.Tuple, dests []Dest) int {
	now := s.tab.now()
	s.tab.expire(now)
	e := s.tab.get(&t.DstAddr)
	if e < 0 {
		j := weightedLeast(dests, false)
		if j < 0 {
			return -1
		}
		if e = s.tab.insert(&t.DstAddr, now); e >= 0 {
			if need := len(s.tab.ents) * s.stride; len(s.sets) < need {
				s.sets = append(s.sets, make([]int32, need-len(s.sets))...)
			}
			s.sets[int(e)*s.stride] = int32(j)
			s.tab.ents[e].dest = 1
		}
		return j
	}
	en := &s.tab.ents[e]
	en.lastuse = now
	j := s.setMin(e, dests)
	if en.dest > 1 && now-en.lastmod > lblcExpiration {
		if m := s.setMax(e, dests); m >= 0 {
			s.erase(e, m, now)
		}
	}
	if j >= 0 && !lblcOverloaded(dests, j) {
		return j
	}
	if j = weightedLeast(dests, false); j < 0 {
		return -1
	}
	s.insert(e, j, dests, now)
	return j
}

// setMin is ip_vs_dest_set_min: the first available member, then any later one not overloaded
// with a strictly lower overhead/weight.
func (s *lblcr) setMin(e int32, dests []Dest) int {
	least := -1
	var loh, lw int64
	for _, k := range s.set(e) {
		d := &dests[k]
		if least < 0 {
			if !available(d) {
				continue
			}
		} else if d.Overloaded || d.Weight <= 0 {
			continue
		}
		if doh := overhead(d); least < 0 || loh*int64(d.Weight) > doh*lw {
			least, loh, lw = int(k), doh, int64(d.Weight)
		}
	}
	return least
}

// setMax is ip_vs_dest_set_max: the first member with a weight, then any later one with a weight
// and a strictly higher overhead/weight. Overloaded members count.
func (s *lblcr) setMax(e int32, dests []Dest) int {
	most := -1
	var moh, mw int64
	for _, k := range s.set(e) {
		d := &dests[k]
		if d.Weight <= 0 {
			continue
		}
		if doh := overhead(d); most < 0 || moh*int64(d.Weight) < doh*mw {
			most, moh, mw = int(k), doh, int64(d.Weight)
		}
	}
	return most
}

// insert is ip_vs_dest_set_insert with check: a server already in the set changes nothing; a new
// one goes first and stamps the set.
func (s *lblcr) insert(e int32, j int, dests []Dest, now int64) {
	for _, k := range s.set(e) {
		if int(k) == j {
			return
		}
	}
	if int(s.tab.ents[e].dest) == s.stride {
		m := s.setMax(e, dests)
		if m < 0 {
			m = int(s.set(e)[s.stride-1])
		}
		s.erase(e, m, now)
	}
	en := &s.tab.ents[e]
	en.dest++
	set := s.set(e)
	copy(set[1:], set)
	set[0] = int32(j)
	en.lastmod = now
}

// erase is ip_vs_dest_set_erase.
func (s *lblcr) erase(e int32, j int, now int64) {
	set := s.set(e)
	for i, k := range set {
		if int(k) == j {
			copy(set[i:], set[i+1:])
			s.tab.ents[e].dest--
			s.tab.ents[e].lastmod = now
			return
		}
	}
}

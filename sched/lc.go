package sched

import "github.com/xdpvs/xdpvs/header"

// The least-connection family: lc (ip_vs_lc.c), wlc (ip_vs_wlc.c), sed (ip_vs_sed.c) and nq
// (ip_vs_nq.c). They keep no state: each call walks dests in order with the kernel's comparisons,
// so ties go to the earlier destination. A destination is skipped when it is Overloaded or its
// weight is 0 (the kernel tests weight == 0 or > 0; a negative weight, which IPVS rejects, is
// treated as 0 here).
//
// The connection counts are those of the calling worker only: each worker counts the connections
// it owns, where IPVS reads one global counter per destination. With RSS spreading flows evenly
// over the workers, the per-worker counts are a scaled sample of the global ones.

func init() {
	Register("lc", func(Config) Table { return shared{lc{}} })
	Register("wlc", func(Config) Table { return shared{wlc{}} })
	Register("sed", func(Config) Table { return shared{sed{}} })
	Register("nq", func(Config) Table { return shared{nq{}} })
}

// overhead is ip_vs_dest_conn_overhead: an active connection costs 256 inactive ones.
func overhead(d *Dest) int64 { return int64(d.ActiveConns)<<8 + int64(d.InactiveConns) }

// available is the test every scheduler applies: not quiescent, not above its upper threshold.
func available(d *Dest) bool { return d.Weight > 0 && !d.Overloaded }

// lc chooses the least overhead, the first one on ties; weights only quiesce.
type lc struct{}

func (lc) Schedule(_ *header.Tuple, dests []Dest) int {
	least, loh := -1, int64(0)
	for i := range dests {
		d := &dests[i]
		if !available(d) {
			continue
		}
		if doh := overhead(d); least < 0 || doh < loh {
			least, loh = i, doh
		}
	}
	return least
}

// wlc chooses the least overhead/weight. Like the kernel it takes the first available destination
// and then replaces it only when loh*w(d) > doh*w(least), strictly, so the earlier one wins a tie.
type wlc struct{}

func (wlc) Schedule(_ *header.Tuple, dests []Dest) int { return weightedLeast(dests, false) }

// sed (shortest expected delay) is wlc with (active+1) as the overhead, inactive ignored.
type sed struct{}

func (sed) Schedule(_ *header.Tuple, dests []Dest) int { return weightedLeast(dests, true) }

// weightedLeast is the loop of ip_vs_wlc.c (and of __ip_vs_lblc_schedule, __ip_vs_lblcr_schedule),
// or with sedCost that of ip_vs_sed.c. After the first available destination, the kernel's loop
// skips only overloaded ones: a quiescent one cannot win, as loh*0 > doh*w(least) never holds.
func weightedLeast(dests []Dest, sedCost bool) int {
	least := -1
	var loh, lw int64
	for i := range dests {
		d := &dests[i]
		if least < 0 {
			if !available(d) {
				continue
			}
		} else if d.Overloaded {
			continue
		}
		doh := overhead(d)
		if sedCost {
			doh = int64(d.ActiveConns) + 1
		}
		if least < 0 || loh*int64(d.Weight) > doh*lw {
			least, loh, lw = i, doh, int64(d.Weight)
		}
	}
	return least
}

// nq (never queue) sends to the first idle (no active connection) available destination, else
// chooses as sed does. Unlike wlc and sed, the kernel's nq loop starts with least = NULL and tests
// every candidate for availability, which gives the same choices.
type nq struct{}

func (nq) Schedule(_ *header.Tuple, dests []Dest) int {
	least := -1
	var loh, lw int64
	for i := range dests {
		d := &dests[i]
		if !available(d) {
			continue
		}
		if d.ActiveConns == 0 {
			return i
		}
		doh := int64(d.ActiveConns) + 1
		if least < 0 || loh*int64(d.Weight) > doh*lw {
			least, loh, lw = i, doh, int64(d.Weight)
		}
	}
	return least
}

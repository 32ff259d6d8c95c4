package dataplane

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
	"github.com/xdpvs/xdpvs/toa"
)

// Publication: a worker never waits for a reader of its counters, nor a reader for a worker.
// Between two batches, every publishEvery, and before it sleeps if packets came or connections
// went since, the worker copies its counters (about 600 KB, 12 µs) into one of three copies no
// reader holds and publishes it with an atomic pointer swap; Stats, the metrics scrape and the
// estimator read the copy published last, which they hold while they read it. A copy is one
// moment of one worker's counters, never torn, and each is at least as far on as the one before.
const publishEvery = int64(100 * time.Millisecond)

// published is one copy of a worker's counters, with its table's size and when it was taken.
type published struct {
	c     counters
	conns int
	at    int64        // the worker's clock (ns)
	refs  atomic.Int32 // readers holding it
}

// unpublished stands for the counters of a worker that has published none: all zero.
var unpublished published

// release ends a reader's hold on the copy.
func (x *published) release() { x.refs.Add(-1) }

// board is one worker's publication: the worker writes, readers acquire and release.
type board struct {
	cur    atomic.Pointer[published]
	copies [3]published
}

// publish makes a copy of c (conns connections, at now) the current one, in a copy that is neither
// current nor held; with both others held it publishes nothing and reports false (the readers
// see the current copy a little longer). Only the worker calls it.
func (b *board) publish(c *counters, conns int, now int64) bool {
	cur := b.cur.Load()
	for i := range b.copies {
		x := &b.copies[i]
		if x == cur || x.refs.Load() != 0 {
			continue
		}
		// No reader can hold x from here on: a reader holds only a copy it saw current after
		// taking its hold, and x is not current until the Store below.
		x.c, x.conns, x.at = *c, conns, now
		b.cur.Store(x)
		return true
	}
	return false
}

// acquire returns the current copy, held until its release, or nil if nothing was published.
func (b *board) acquire() *published {
	for {
		x := b.cur.Load()
		if x == nil {
			return nil
		}
		x.refs.Add(1)
		if b.cur.Load() == x {
			return x // still current after the hold: the worker will not write it while held
		}
		x.release() // replaced meanwhile: the worker may be writing it
	}
}

// statsOf sums the counters copied from each worker into the Stats of configuration c; persist
// counts the templates per real-server id (nil: none).
func statsOf(c *compiled, cs []*counters, ws []WorkerStats, persist *persistCounts) *Stats {
	st := &Stats{Workers: ws}
	for i := range c.svcs {
		s := &c.svcs[i]
		ss := ServiceStats{Key: s.spec.Key}
		for _, wc := range cs {
			if wc.svcKey[s.id] == s.key {
				ss.Counters.Add(&wc.svc[s.id])
			}
		}
		for j := range s.dests {
			d := &s.dests[j]
			rs := RealServerStats{Addr: s.spec.RealServers[j].Addr, Port: s.spec.RealServers[j].Port}
			if persist != nil && persist.gen[d.id] == d.gen {
				rs.PersistentConns = uint64(persist.n[d.id])
			}
			for _, wc := range cs {
				if wc.destGen[d.id] != d.gen {
					continue
				}
				rs.Counters.Add(&wc.dest[d.id])
				rs.ActiveConns += uint64(max(wc.active[d.id], 0))
				rs.InactiveConns += uint64(max(wc.inactive[d.id], 0))
				rs.SynTimeouts += wc.synTimeouts[d.id]
			}
			ss.RealServers = append(ss.RealServers, rs)
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

// workerStats names one worker's counters.
func workerStats(id, queue, cpu int, c *counters, conns int) WorkerStats {
	ws := WorkerStats{ID: id, Queue: queue, CPU: cpu, RXPackets: c.rx, TXPackets: c.tx,
		HandoffsOut: c.handoffOut, HandoffsIn: c.handoffIn, Conns: uint64(conns)}
	for r := DropReason(0); r < NumDropReasons; r++ {
		ws.Drops = append(ws.Drops, NamedCount{Name: r.String(), Count: c.drops[r]})
	}
	ws.Events = append(ws.Events, NamedCount{Name: "conn_reopened", Count: c.reopened},
		NamedCount{Name: "tunnelled", Count: c.tunnelled}, NamedCount{Name: "icmp_sent", Count: c.icmpSent},
		NamedCount{Name: "nat64_translated", Count: c.translated}, NamedCount{Name: "toa_mss_not_lowered", Count: c.mssNotLowered},
		NamedCount{Name: "worker_panic", Count: c.panics}, NamedCount{Name: "nat_flow_errors", Count: c.flowErrors},
		NamedCount{Name: "conn_evicted", Count: c.evicted}, NamedCount{Name: "defense_short_timeouts", Count: c.defended},
		NamedCount{Name: "checksums_completed", Count: c.sumsCompleted}, NamedCount{Name: "sloppy_created", Count: c.sloppy},
		NamedCount{Name: "frag_held", Count: c.fragHeld}, NamedCount{Name: "frag_expired", Count: c.fragExpired},
		NamedCount{Name: "frag_evicted", Count: c.fragEvicted},
		NamedCount{Name: "frag_made", Count: c.fragMade},
		NamedCount{Name: "fast_path_installed", Count: c.fastInstalled}, NamedCount{Name: "fast_path_removed", Count: c.fastRemoved},
		NamedCount{Name: "fast_path_packets", Count: c.fastPackets}, NamedCount{Name: "fast_path_bytes", Count: c.fastBytes},
		NamedCount{Name: "fast_path_refused", Count: c.fastRefused}, NamedCount{Name: "fast_path_errors", Count: c.fastErrors})
	for r := toa.Result(0); r < toa.NumResults; r++ {
		ws.Events = append(ws.Events, NamedCount{Name: "toa_" + r.String(), Count: c.toa[r]})
	}
	for r := proxyproto.Result(0); r < proxyproto.NumResults; r++ {
		ws.Events = append(ws.Events, NamedCount{Name: "proxy_protocol_" + r.String(), Count: c.pp[r]})
	}
	ws.Events = append(ws.Events, NamedCount{Name: "proxy_protocol_resent", Count: c.ppResent})
	ws.Events = spEvents(ws.Events, &c.sp)
	ws.Events = syncEvents(ws.Events, &c.sync)
	for r := header.ParseResult(1); r < header.NumParseResults; r++ {
		ws.Drops = append(ws.Drops, NamedCount{Name: "bad_header/" + r.String(), Count: c.parse[r]})
	}
	return ws
}

// connInfo describes connection e for listings.
func connInfo(e *conntrack.Entry[connVal], now int64) ConnInfo {
	o, r := &e.Tuples[conntrack.DirOriginal], &e.Tuples[conntrack.DirReply]
	ap := func(a header.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a.Netip(), p) }
	ci := ConnInfo{
		Proto: o.Proto, Client: ap(o.SrcAddr, o.SrcPort), Virtual: ap(o.DstAddr, o.DstPort),
		Dest: ap(r.SrcAddr, r.SrcPort), State: e.State.String(), Expires: time.Duration(max(e.Expires()-now, 0)),
	}
	if r.DstAddr != o.SrcAddr || r.DstPort != o.SrcPort {
		ci.Local = ap(r.DstAddr, r.DstPort)
	}
	return ci
}

// listCheck is how many table entries listConns walks between two looks at the clock.
const listCheck = 32

// listConns appends to out the connections of the table from index from on, until out is full
// or clock (checked every listCheck entries) reaches deadline; their expiry is counted from now.
// It returns out, the index to go on from, and whether the table is done. An index holds a
// connection when its original tuple leads back to it: a free entry's tuple is in no index, or
// another connection's (conntrack's Range, the only other way, cannot resume).
func (p *Pipeline) listConns(out []ConnInfo, from uint32, now, deadline int64, clock func() int64) ([]ConnInfo, uint32, bool) {
	t, i, n := p.table, from, uint32(p.table.Cap())
	for ; i < n && len(out) < cap(out); i++ {
		if (i-from)%listCheck == listCheck-1 && clock() >= deadline {
			break
		}
		if t.InUse(i) {
			out = append(out, connInfo(t.Entry(i), now))
		}
	}
	return out, i, i >= n
}

// persistCounts are the live persistence templates per real server, as the janitor last counted.
type persistCounts struct {
	n   [MaxDests]uint32
	gen [MaxDests]uint16
}

// countTemplates sweeps the templates at now (ns): frees the expired ones and counts the others per
// real server of configuration c.
func countTemplates(t *templates, c *compiled, now int64) *persistCounts {
	pc := new(persistCounts)
	for i := range c.svcs {
		for _, d := range c.svcs[i].dests {
			pc.gen[d.id] = d.gen
		}
	}
	t.sweep(uint32(now/1e9), func(id, gen uint16) {
		if pc.gen[id] == gen {
			pc.n[id]++
		}
	})
	return pc
}

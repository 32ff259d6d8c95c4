package dataplane

import (
	"sync/atomic"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// The fast path: the steering program forwards the packets of established connections itself
// (dataplane/xsk/bpf/fastpath.h), from a rewrite record the owning worker installs for each
// direction, and the worker stays the authority:
//
//   - a direction's record is made (offload) when the worker forwards a packet of it and the
//     connection needs no more judgement (fastReady): TCP ESTABLISHED (FULLNAT once the TOA
//     option went out), UDP assured (DR, TUN: seen); not for the SYN proxy, the PROXY protocol,
//     NAT64, a service with --policy no-fast-path, or while the record log is full. SYN, FIN and RST segments,
//     misses and anything odd still reach the worker, which moves the state on; a connection
//     that leaves ESTABLISHED (a FIN, an RST) loses its records at once, since the ACKs that close
//     it move its state on too (a client reusing the port must find it closed);
//   - the records go with the connection: forget (removal, expiry, re-scheduling) logs their
//     removal first, and the worker hands the log to the program (syncFast) at the end of the
//     batch, once the batch's packets have left (so that a record goes in only after the packet
//     that made it: the program's packets never overtake the worker's); a new configuration or
//     a changed next hop removes all of the worker's records, which the connections' next
//     packets make afresh;
//   - the program counts each direction's packets, bytes and last time in a stats slot of the
//     worker's (fastStat); fold moves them into the service's and real server's counters and
//     the connection's expiry, every fastFoldEvery and before the connection expires, so that
//     -Lnc, --stats, --rate and expiry behave as without the fast path.

// fastStat is a stats slot, as dataplane/xsk.FastStat (same layout): written by the program with
// atomic adds, read and reset by the owning worker with atomics. count is packets << fastByteBits |
// bytes, one atomic add a packet: 2^28 packets and 64 GiB between two folds.
type fastStat struct {
	count, last uint64
}

// fastByteBits is bpf/fastpath.h's FAST_BYTE_BITS.
const fastByteBits = 36

// fastCount is the slot word of n packets of b bytes.
func fastCount(n, b uint64) uint64 { return n<<fastByteBits | b }

// fastRec is one direction's rewrite (dataplane/xsk.FastRecord in Go's terms): the worker's own
// rewrite of that direction, computed once.
type fastRec struct {
	kind             uint8 // fastNAT, fastDR, fastTUN
	port             uint16
	ifindex          uint32
	slot             uint32
	l4Delta, ipDelta uint16 // RFC 1624 sums of the changed fields (fastNAT)
	mtu              uint16 // fastTUN: the largest inner IP packet
	sport, dport     uint16 // fastNAT: new ports
	dstMAC, srcMAC   header.MAC
	saddr, daddr     header.Addr // fastNAT: new addresses; fastTUN: the outer ones
}

// The kinds of fastRec, as xsk.FastNAT, FastDR and FastTUN.
const (
	fastNAT uint8 = 1
	fastDR  uint8 = 2
	fastTUN uint8 = 3
)

// fastLogLen bounds the log between two syncs: a receive batch installs at most one record and
// removes at most two per packet, an expiry round (expiryBudget) removes two per connection.
const fastLogLen = 4096

// fastFoldEvery is how often every record's counts are folded; fastFoldBudget how many
// connections one round (every expiryEvery) folds at most.
const (
	fastFoldEvery  = int64(500e6)
	fastFoldBudget = 4096
)

type fastOp struct {
	key header.Tuple // the direction's tuple, as its packets arrive
	rec fastRec
	add bool
}

// fastLog is the pipeline's record of fast-path records made and removed since the worker last
// handed them to the program, in order.
type fastLog struct {
	ops [fastLogLen]fastOp
	n   int
}

func (l *fastLog) room() int { return len(l.ops) - l.n }

// fastPath is a pipeline's fast-path state.
type fastPath struct {
	log      fastLog
	stats    []fastStat // the worker's stats slots: 2 per connection id
	base     uint32     // the first slot's number in the program's map
	list     []uint32   // connections with a record, in no order
	pos      []int32    // by connection id: its index in list + 1, 0 = none
	clock    fastClock  // the program's time stamps on the workers' clock
	foldAt   int        // where the fold round goes on in list
	passAt   int64      // when the current pass over list began
	now      int64      // the time of the expiry round, for expired
	neighGen uint64
	tunSrc   *srcTable // the tunnel sources the records were made with
	flushAll bool      // the worker removes every record (and clears flushAll)
	full     bool      // the program's map refused a record: none are made until a removal
	lost     uint64    // removals not logged (the log was full): cannot happen by the budgets above
}

// newFastPath gives a pipeline of table capacity capacity a fast path whose stats slots are
// stats (2 per connection), numbered from base in the program's map.
func newFastPath(capacity int, stats []fastStat, base uint32, clock fastClock) *fastPath {
	return &fastPath{stats: stats, base: base, pos: make([]int32, capacity), clock: clock,
		list: make([]uint32, 0, capacity)}
}

// fastClock maps the program's time stamps, jiffies (xsk.JiffyClock), to the workers' clock:
// jiffy j0 began at t0 and each lasts tick ns.
type fastClock struct {
	j0       uint64
	t0, tick int64
}

// nsClock is the fast clock of stamps already in the workers' nanoseconds (tests).
var nsClock = fastClock{tick: 1}

// at is when jiffy j began.
func (c *fastClock) at(j uint64) int64 { return c.t0 + int64(j-c.j0)*c.tick }

// fastFlag is the bit of connFlags that says the program holds direction dir's record.
func fastFlag(dir conntrack.Dir) connFlags { return connFastOriginal << dir }

// fastReady reports whether direction dir of connection e needs no more judgement from the
// worker, so that its packets may be forwarded by the program.
func (p *Pipeline) fastReady(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) bool {
	v := &e.Value
	// The SYN proxy and the PROXY protocol's header shift sequence numbers in every segment.
	if v.sp != spOff || v.flags.has(connPP) || v.xmit == xmitNAT64 || p.c.policy[v.svcID]&NoFastPath != 0 ||
		p.c.destGen[v.destID] != v.destGen || p.fast.full || p.fast.flushAll || p.fast.log.room() < 3 {
		return false
	}
	switch e.State {
	case conntrack.StateEstablished:
		if v.xmit == xmitFullNAT && !v.flags.has(connTOADone) || v.flags.has(connSloppy) {
			return false // TOA still to send; a sloppy connection not yet assured by a second segment
		}
	case conntrack.StateUDP:
		if v.xmit.inputOnly() {
			return v.flags.has(connSeen) && p.fastTunnelOK(cur, v, h)
		}
		return v.flags.has(connAssured)
	default:
		return false
	}
	return p.fastTunnelOK(cur, v, h)
}

// fastTunnelOK reports whether a tunnel connection's packet went into the tunnel (it had a source
// and fitted); true for any other.
func (p *Pipeline) fastTunnelOK(cur *cursor, v *connVal, h hop) bool {
	if v.xmit != xmitTunnel {
		return true
	}
	_, ok := p.tunSrc.load().source(v.destID, v.destGen, h.port, cur.pkt.IsIPv6)
	return ok && cur.pkt.L3Length <= p.tunnelMTU(cur, h.port)
}

// offload makes direction dir of connection id's record, to next hop h, and logs it.
func (p *Pipeline) offload(cur *cursor, id uint32, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) {
	f, v := p.fast, &e.Value
	t, other := &e.Tuples[dir], &e.Tuples[dir^1]
	r := fastRec{kind: fastDR, port: uint16(h.port), ifindex: uint32(p.ports[h.port].Ifindex),
		slot: f.base + id*2 + uint32(dir), dstMAC: h.dstMAC(), srcMAC: p.ports[h.port].MAC}
	switch v.xmit {
	case xmitNAT, xmitFullNAT:
		r.kind = fastNAT
		r.saddr, r.daddr, r.sport, r.dport = other.DstAddr, other.SrcAddr, other.DstPort, other.SrcPort
		r.l4Delta, r.ipDelta = natDeltas(t, &r.saddr, &r.daddr, r.sport, r.dport)
	case xmitTunnel:
		src, _ := p.tunSrc.load().source(v.destID, v.destGen, h.port, cur.pkt.IsIPv6)
		r.kind, r.saddr, r.daddr = fastTUN, *src, e.Tuples[conntrack.DirReply].SrcAddr
		r.mtu = uint16(p.tunnelMTU(cur, h.port))
	}
	s := &f.stats[id*2+uint32(dir)]
	atomic.StoreUint64(&s.count, 0)
	f.log.ops[f.log.n] = fastOp{key: *t, rec: r, add: true}
	f.log.n++
	v.flags.set(fastFlag(dir), true)
	if f.pos[id] == 0 {
		f.list = append(f.list, id)
		f.pos[id] = int32(len(f.list))
	}
	p.c.fastInstalled++
}

// natDeltas returns the RFC 1624 sums a packet of tuple t needs added to its L4 checksum and its
// IPv4 header checksum when it takes the addresses src, dst and ports sport, dport: the sum of
// ~old + new over every 16-bit word that changes, as the worker's rewriteL3L4 updates them one
// by one (a field that does not change is not counted, as it is not rewritten).
func natDeltas(t *header.Tuple, src, dst *header.Addr, sport, dport uint16) (l4, ip uint16) {
	var sl4, sip uint32
	addr := func(old, new *header.Addr) {
		if *old == *new {
			return
		}
		from := 0
		if t.SrcAddr.Is4() {
			from = 12
		}
		for i := from; i < 16; i += 2 {
			w := ^(uint32(old[i])<<8 | uint32(old[i+1])) & 0xffff
			w += uint32(new[i])<<8 | uint32(new[i+1])
			sl4 += w
			sip += w
		}
	}
	addr(&t.SrcAddr, src)
	addr(&t.DstAddr, dst)
	if sport != t.SrcPort {
		sl4 += uint32(^t.SrcPort) + uint32(sport)
	}
	if dport != t.DstPort {
		sl4 += uint32(^t.DstPort) + uint32(dport)
	}
	return fold32(sl4), fold32(sip)
}

func fold32(s uint32) uint16 {
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// unoffload logs the removal of connection id's records (after folding their last counts).
func (p *Pipeline) unoffload(id uint32, e *conntrack.Entry[connVal]) {
	f, v := p.fast, &e.Value
	p.foldConn(id, e, f.now, false)
	for dir := conntrack.DirOriginal; dir <= conntrack.DirReply; dir++ {
		if !v.flags.has(fastFlag(dir)) {
			continue
		}
		v.flags.set(fastFlag(dir), false)
		if f.log.room() == 0 {
			f.lost++
			continue
		}
		f.log.ops[f.log.n] = fastOp{key: e.Tuples[dir]}
		f.log.n++
		p.c.fastRemoved++
	}
	f.full = false
	f.unlist(id)
}

// unlist takes connection id out of the list of those with a record.
func (f *fastPath) unlist(id uint32) {
	if i := f.pos[id]; i != 0 {
		last := f.list[len(f.list)-1]
		f.list[i-1], f.pos[last] = last, i
		f.list, f.pos[id] = f.list[:len(f.list)-1], 0
	}
}

// offloaded reports whether connection e has a record in either direction.
func offloaded(e *conntrack.Entry[connVal]) bool {
	return e.Value.flags&(fastFlag(conntrack.DirOriginal)|fastFlag(conntrack.DirReply)) != 0
}

// foldConn moves the program's counts of connection id into the counters, and (moveExpiry) its
// expiry on to the last packet the program forwarded plus the state's timeout.
func (p *Pipeline) foldConn(id uint32, e *conntrack.Entry[connVal], now int64, moveExpiry bool) {
	f, v := p.fast, &e.Value
	for dir := conntrack.DirOriginal; dir <= conntrack.DirReply; dir++ {
		if !v.flags.has(fastFlag(dir)) {
			continue
		}
		s := &f.stats[id*2+uint32(dir)]
		x := atomic.SwapUint64(&s.count, 0)
		if x == 0 {
			continue
		}
		n, b := x>>fastByteBits, x&(1<<fastByteBits-1)
		seen := min(f.clock.at(atomic.LoadUint64(&s.last)), now)
		p.c.fastPackets += n
		p.c.fastBytes += b
		if p.c.destGen[v.destID] == v.destGen {
			sc, dc := &p.c.svc[v.svcID], &p.c.dest[v.destID]
			if dir == conntrack.DirOriginal {
				sc.InPkts, sc.InBytes, dc.InPkts, dc.InBytes = sc.InPkts+n, sc.InBytes+b, dc.InPkts+n, dc.InBytes+b
			} else {
				sc.OutPkts, sc.OutBytes, dc.OutPkts, dc.OutBytes = sc.OutPkts+n, sc.OutBytes+b, dc.OutPkts+n, dc.OutBytes+b
			}
		}
		if !moveExpiry {
			continue
		}
		if exp := seen + p.timeout(e, dir); exp > e.Expires() {
			p.table.SetExpires(id, exp)
		}
		if p.sync != nil {
			p.syncTouch(id, e, false, now) // its peers' copies are refreshed as if the worker had forwarded them
		}
	}
}

// foldFast folds up to fastFoldBudget connections' counts, going on where the last round stopped,
// and starts a new pass over the connections at most every fastFoldEvery. A changed next hop
// somewhere (neighGen) or new tunnel sources ask the worker to remove every record.
func (p *Pipeline) foldFast(now int64, neighGen uint64) {
	f := p.fast
	if neighGen != f.neighGen {
		f.neighGen, f.flushAll = neighGen, true
	}
	if t := p.tunSrc.load(); t != f.tunSrc {
		// Republished every 10 s and with every configuration, mostly the same.
		if !t.sameAs(f.tunSrc) {
			f.flushAll = true
		}
		f.tunSrc = t
	}
	if f.foldAt >= len(f.list) {
		if now-f.passAt < fastFoldEvery {
			return
		}
		f.foldAt, f.passAt = 0, now
	}
	end := min(f.foldAt+fastFoldBudget, len(f.list))
	for _, id := range f.list[f.foldAt:end] {
		p.foldConn(id, p.table.Entry(id), now, true)
	}
	f.foldAt = end
}

// expire runs the table's expiry at now for at most budget entries; a connection the program
// forwarded packets of since the last fold lives on (expired).
func (p *Pipeline) expire(now int64, budget int) {
	if p.fast != nil {
		p.fast.now = now
		budget = min(budget, p.fast.log.room()/2)
	}
	p.table.Expire(now, budget)
}

// fastLives folds connection id's counts at its expiry and reports whether the program forwarded
// a packet of it recently enough to keep it.
func (p *Pipeline) fastLives(id uint32, e *conntrack.Entry[connVal]) bool {
	p.foldConn(id, e, p.fast.now, true)
	return e.Expires() > p.fast.now
}

// flushFast removes the records of every connection (flushAll: a new configuration or next hop),
// at most fastLogLen-fastLogLen/4 per call, so that the next packets go through the worker and
// make them afresh. It reports whether all are gone.
func (p *Pipeline) flushFast() bool {
	f := p.fast
	for len(f.list) > 0 && f.log.room() > fastLogLen/4 {
		id := f.list[len(f.list)-1]
		p.unoffload(id, p.table.Entry(id))
	}
	if len(f.list) == 0 {
		f.flushAll, f.foldAt = false, 0
		return true
	}
	return false
}

// fastRefusedAt undoes the record of tuple key that the program's map refused (full): the
// connection stays with the worker, and no record is made until one is removed.
func (p *Pipeline) fastRefusedAt(key *header.Tuple) {
	f := p.fast
	f.full = true
	p.c.fastRefused++
	id, dir, ok := p.table.Lookup(key)
	if !ok {
		return
	}
	e := p.table.Entry(id)
	if !e.Value.flags.has(fastFlag(dir)) {
		return
	}
	e.Value.flags.set(fastFlag(dir), false)
	p.c.fastInstalled--
	if !offloaded(e) {
		f.unlist(id)
	}
}

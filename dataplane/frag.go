package dataplane

import (
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// IP fragments of TCP and UDP (IPv4 with MF or an offset, IPv6 with a fragment header) are load
// balanced without reassembly: the first fragment, which carries the ports, is classified as any
// packet (connection lookup, schedule); the later ones, which carry no ports, follow its verdict.
//
// Two roles, both per worker and lock-free:
//
//   - The gatherer of a datagram is fragOwner(src, dst, proto, ID), a keyed hash every worker
//     computes alike, so that all of a datagram's fragments meet on one worker whatever queue RSS
//     put them on (the worker that receives one hands it there, VerdictHandoff). The gatherer keeps
//     the datagram's entry in its fragTable: the byte ranges seen (overlaps, RFC 5722, and oversize
//     datagrams drop the whole datagram), and, once the first fragment has come, the worker that
//     owns the datagram's connection (flowOwner of the first fragment's tuple). Fragments that come
//     before the first are copied into the worker's preallocated pool (held) and released, in
//     order, after it.
//   - The owner of the connection receives the datagram's fragments from the gatherer, first one
//     first (one single-producer ring from the gatherer, VerdictHandoffFragment; or in place when
//     the gatherer is the owner), marked as gathered so that it never hands them on. It processes
//     the first fragment as usual and records its tuple in its own entry for the datagram; each
//     later fragment is forwarded as a packet of that connection (forwardFragment): the IP rewrite
//     of NAT and FULLNAT (the L4 checksum, in the first fragment, covers the whole datagram and its
//     incremental update is the same), each fragment translated for NAT64, each in the tunnel for
//     TUN, as it is for DR.
//
// Entries live at most fragTimeout from the datagram's first fragment seen here (expired ones are
// reused and swept), are freed when the datagram's bytes are all through, and the table and the
// pool are bounded: a flood of fragments costs counted drops (frag_table_full, frag_buffer_full,
// frag_timeout), never memory. NAT64 translates each fragment (nat64frag.go); SYN-proxied
// connections do not take fragments (frag_unsupported), nor does FULLNAT insert TOA into one.
const (
	fragTableSize = 1 << 10 // datagrams in flight per worker
	fragProbe     = 8       // slots probed for a datagram's entry
	fragTimeout   = int64(5 * time.Second)
	fragMaxFrags  = 64 // fragments of one datagram (a 64 KiB datagram in 1280-byte packets takes 52)
	// fragSpans bounds the disjoint byte ranges of one datagram seen before they join: as many as
	// fragments alternating between two queues make (the gatherer sees one queue's before the
	// other's, handed over).
	fragSpans     = fragMaxFrags / 2
	fragPoolSlots = 256  // fragments held (out of order) or made (tunnel) per worker
	fragSlotSize  = 4096 // the largest frame a pool slot holds
	fragSweep     = 64   // entries examined per expiry sweep
	fragMaxData   = 65535
)

// fragKey keys fragOwner and the tables: random per process, shared by its workers.
var fragKey = header.NewHashKey()

// fragOwner is the worker that gathers the datagram of key (see fragKeyOf).
func fragOwner(key *header.Tuple, workers int) int {
	return int((key.Hash(&fragKey) >> 32) % uint64(workers))
}

// fragState is what a worker knows of a datagram.
type fragState uint8

const (
	fragFree      fragState = iota
	fragWaiting             // gathered here, its first fragment not seen yet: later ones are held
	fragOwned               // gathered here, its first fragment seen: its connection's worker is known
	fragFollowing           // gathered elsewhere: fragments arrive from the gatherer, first one first
	fragDropped             // dropped (overlap, too many, no service): its fragments are dropped as they come
)

// fragEntry is one datagram's state on one worker.
type fragEntry struct {
	key      header.Tuple // addresses, protocol, and the identification in the ports (fragKeyOf)
	flow     header.Tuple // the first fragment's tuple, whose connection the later ones follow (Proto 0: none)
	expires  int64
	spans    [fragSpans][2]uint16 // byte ranges of fragment data seen, disjoint (ends ≤ fragMaxData)
	total    uint32               // the datagram's data length once its last fragment came; 0: not yet
	held     int16                // first held fragment in the pool, -1: none
	heldTail int16
	owner    int16 // the worker owning its connection (fragOwned)
	nspans   uint8
	nfrags   uint8 // fragments accounted
	done     uint8 // fragments processed as the connection's (followed)
	state    fragState
}

// complete reports whether every byte of the datagram has been seen.
func (e *fragEntry) complete() bool {
	return e.total != 0 && e.nspans == 1 && e.spans[0] == [2]uint16{0, uint16(e.total)}
}

// account adds the fragment data [off, off+n) (more: not the last; off+n ≤ fragMaxData) to the
// datagram, or says why the datagram must be dropped: it overlaps data seen (RFC 5722), lies
// beyond its end, or the datagram has too many fragments or ranges.
func (e *fragEntry) account(off32, n uint32, more bool) DropReason {
	off, end := uint16(off32), uint16(off32+n)
	total := uint16(e.total)
	switch {
	case !more && total != 0 && total != end, !more && e.nspans > 0 && e.spans[e.nspans-1][1] > end,
		more && total != 0 && end > total:
		return DropFragOverlap // a second, different end, or data beyond it
	case e.nfrags >= fragMaxFrags:
		return DropFragTooMany
	}
	var spans [fragSpans][2]uint16
	j, lo, hi := 0, off, end
	for _, s := range e.spans[:e.nspans] {
		switch {
		case off < s[1] && end > s[0]:
			return DropFragOverlap
		case s[1] == lo:
			lo = s[0]
		case s[0] == hi:
			hi = s[1]
		default:
			spans[j] = s
			j++
		}
	}
	if j == fragSpans {
		return DropFragTooMany
	}
	// Kept in order of their start, so that the last span ends the data seen.
	k := j
	for k > 0 && spans[k-1][0] > lo {
		spans[k] = spans[k-1]
		k--
	}
	spans[k] = [2]uint16{lo, hi}
	e.spans, e.nspans = spans, uint8(j+1)
	if !more {
		e.total = uint32(end)
	}
	e.nfrags++
	return 0
}

// fragTable is one worker's datagrams, its pool of held and made fragments, and the queue of
// those the worker is to send or hand on (drainFragments).
type fragTable struct {
	e     [fragTableSize]fragEntry
	sweep int
	pool  fragPool
	out   fragQueue
}

func newFragTable() *fragTable {
	t := &fragTable{pool: newFragPool()}
	for i := range t.e {
		t.e[i].held, t.e[i].heldTail = -1, -1
	}
	return t
}

// find returns the live entry of key, or nil.
func (t *fragTable) find(key *header.Tuple, now int64, p *Pipeline) *fragEntry {
	h := int(key.Hash(&fragKey))
	for i := range fragProbe {
		e := &t.e[(h+i)&(fragTableSize-1)]
		if e.state != fragFree && e.key == *key {
			if e.expires <= now {
				p.fragExpire(e)
				return nil
			}
			return e
		}
	}
	return nil
}

// insert returns a new entry for key: a free or expired slot of its probe run, else the oldest of
// the run's datagrams whose first fragment has not come (or that are dropped), evicted (its held
// fragments counted as frag_table_full), so that a flood of fragments without a first cannot keep
// whole datagrams out. It returns nil when every datagram of the run is under way.
func (t *fragTable) insert(key *header.Tuple, state fragState, now int64, p *Pipeline) *fragEntry {
	h := int(key.Hash(&fragKey))
	var victim *fragEntry
	for i := range fragProbe {
		e := &t.e[(h+i)&(fragTableSize-1)]
		if e.state != fragFree && e.expires <= now {
			p.fragExpire(e)
		}
		if e.state == fragFree {
			victim = e
			break
		}
		if (e.state == fragWaiting || e.state == fragDropped) && (victim == nil || e.expires < victim.expires) {
			victim = e
		}
	}
	if victim == nil {
		return nil
	}
	if victim.state != fragFree {
		p.c.drops[DropFragTableFull] += uint64(p.fragRelease(victim))
		p.c.fragEvicted++
	}
	*victim = fragEntry{key: *key, expires: now + fragTimeout, held: -1, heldTail: -1, state: state}
	return victim
}

// fragPool is a worker's preallocated copies of fragments: held until their datagram's first
// fragment comes, or made by the director (tunnelPieces), until the worker sends them.
type fragPool struct {
	data []byte // fragPoolSlots × fragSlotSize
	lens [fragPoolSlots]uint16
	ins  [fragPoolSlots]uint8 // the port it came in on
	next [fragPoolSlots]int16 // the next held fragment of the same datagram, -1: none
	free []int16              // a stack of the free slots
}

func newFragPool() fragPool {
	p := fragPool{data: make([]byte, fragPoolSlots*fragSlotSize), free: make([]int16, fragPoolSlots)}
	for i := range p.free {
		p.free[i] = int16(fragPoolSlots - 1 - i)
	}
	return p
}

// get takes a free slot, or returns -1.
func (p *fragPool) get() int16 {
	n := len(p.free)
	if n == 0 {
		return -1
	}
	s := p.free[n-1]
	p.free = p.free[:n-1]
	p.next[s] = -1
	return s
}

func (p *fragPool) put(s int16) { p.free = append(p.free, s) }

// slot returns the whole of slot s.
func (p *fragPool) slot(s int16) []byte {
	return p.data[int(s)*fragSlotSize : (int(s)+1)*fragSlotSize]
}

// frame returns the frame in slot s and the port it came in on (or leaves by).
func (p *fragPool) frame(s int16) ([]byte, int) {
	return p.slot(s)[:p.lens[s]], int(p.ins[s])
}

// fragOut is a pooled frame for the worker: one to process as gathered (to: the worker that owns
// its connection), or to transmit on port (to < 0).
type fragOut struct {
	slot int16
	to   int16
}

// fragQueue holds the pool's frames for the worker, in order; each holds a slot, so it never
// overflows.
type fragQueue struct {
	items [fragPoolSlots]fragOut
	n     int
}

func (q *fragQueue) push(o fragOut) {
	q.items[q.n] = o
	q.n++
}

// fragmentOut returns the frames the pipeline queued for the worker (drainFragments).
func (p *Pipeline) fragmentOut() (*fragQueue, *fragPool) { return &p.frags.out, &p.frags.pool }

// fragKeyOf returns the key of the datagram of a parsed fragment (its addresses, protocol and
// identification), and where its data lies in it: the offset in the datagram, the length, and
// whether more follows.
func fragKeyOf(frame []byte, pkt *header.Packet) (key header.Tuple, off, n uint32, more bool) {
	var id uint32
	l3 := frame[pkt.L3Offset : pkt.L3Offset+pkt.L3Length]
	if pkt.IsIPv6 {
		_, _, f, _ := header.IPv6(l3).TransportProtocol(header.IPv6DefaultMaxExtHeaders) // Parse checked it
		id, off, n, more = f.ID, uint32(f.Offset), uint32(len(l3)-f.DataOffset), f.More
	} else {
		ip := header.IPv4(l3)
		id, off, n, more = uint32(ip.ID()), uint32(ip.FragmentOffset()), uint32(len(l3)-ip.HeaderLength()), ip.More()
	}
	key = header.Tuple{SrcAddr: pkt.Tuple.SrcAddr, DstAddr: pkt.Tuple.DstAddr, Proto: pkt.Proto,
		SrcPort: uint16(id >> 16), DstPort: uint16(id)}
	return key, off, n, more
}

// fragment handles a TCP or UDP fragment: hands it to its datagram's gatherer, gathers it here, or
// (handed over by the gatherer) follows its datagram's first fragment.
func (p *Pipeline) fragment(cur *cursor, now int64) (Verdict, int) {
	key, off, n, more := fragKeyOf(cur.frame, &cur.pkt)
	switch {
	case n == 0 || more && n%8 != 0:
		return p.drop(DropFragBadLength)
	case off+n > fragMaxData:
		return p.drop(DropFragOversize)
	case cur.gathered:
		return p.fragFollow(cur, &key, off, n, more, now)
	}
	if p.workers > 1 {
		if g := fragOwner(&key, p.workers); g != p.id {
			p.c.handoffOut++
			return VerdictHandoff, g
		}
	}
	return p.fragGather(cur, &key, off, n, more, now)
}

// fragGather accounts a fragment of a datagram this worker gathers, and holds it or sends it on to
// the worker that owns the datagram's connection.
func (p *Pipeline) fragGather(cur *cursor, key *header.Tuple, off, n uint32, more bool, now int64) (Verdict, int) {
	t := p.frags
	e := t.find(key, now, p)
	if e == nil {
		if e = t.insert(key, fragWaiting, now, p); e == nil {
			return p.drop(DropFragTableFull)
		}
	}
	if e.state == fragDropped {
		return p.drop(DropFragDatagramDropped)
	}
	if r := e.account(off, n, more); r != 0 {
		return p.fragDrop(e, r)
	}
	if off != 0 && e.state == fragWaiting {
		return p.fragHold(cur, e)
	}
	if off == 0 {
		o, ok := p.flowOwner(&cur.pkt.Tuple)
		if !ok {
			return p.fragDrop(e, DropNoService)
		}
		e.owner, e.state = int16(o), fragOwned
		for s := e.held; s >= 0; s = t.pool.next[s] {
			t.out.push(fragOut{slot: s, to: e.owner})
		}
		e.held, e.heldTail = -1, -1
	}
	if int(e.owner) != p.id {
		if e.complete() {
			p.fragFree(e)
		}
		p.c.handoffOut++
		return VerdictHandoffFragment, int(e.owner)
	}
	return p.fragProcess(cur, e, now)
}

// fragFollow processes a fragment the gatherer handed on (or released here): the connection's
// worker follows the datagram's first fragment.
func (p *Pipeline) fragFollow(cur *cursor, key *header.Tuple, off, n uint32, more bool, now int64) (Verdict, int) {
	e := p.frags.find(key, now, p)
	if e == nil {
		if off != 0 {
			return p.drop(DropFragNoFirst)
		}
		if e = p.frags.insert(key, fragFollowing, now, p); e == nil {
			return p.drop(DropFragTableFull)
		}
	}
	if e.state == fragDropped {
		return p.drop(DropFragDatagramDropped)
	}
	if e.state == fragFollowing {
		// Its gatherer checked it; only the completion is ours to see.
		if r := e.account(off, n, more); r != 0 {
			return p.fragDrop(e, r)
		}
	}
	return p.fragProcess(cur, e, now)
}

// fragProcess processes a fragment as its connection's: the first as any packet (lookup), whose
// connection it records for the later ones; a later one with that connection's rewrite
// (forwardFragment). The entry goes when every fragment of the datagram went through.
func (p *Pipeline) fragProcess(cur *cursor, e *fragEntry, now int64) (v Verdict, port int) {
	if cur.pkt.FragmentOffset == 0 {
		flow := cur.pkt.Tuple
		v, port = p.lookup(cur, now)
		if _, _, ok := p.table.Lookup(&flow); ok {
			e.flow = flow
		}
	} else if e.flow.Proto == 0 {
		v, port = p.drop(DropFragNoFirst)
	} else if id, dir, ok := p.table.Lookup(&e.flow); !ok {
		v, port = p.drop(DropNoConn)
	} else {
		v, port = p.forwardFragment(cur, id, dir)
	}
	if e.done++; e.complete() && e.done >= e.nfrags {
		p.fragFree(e)
	}
	return v, port
}

// forwardFragment sends a fragment other than the first as a packet of connection id going in
// direction dir: the connection's IP rewrite without the L4 one (the first fragment carried the
// ports and the checksum), or its tunnel, or as it is (DR).
func (p *Pipeline) forwardFragment(cur *cursor, id uint32, dir conntrack.Dir) (Verdict, int) {
	e := p.table.Entry(id)
	v := &e.Value
	h, ok := p.hop(v, dir)
	switch {
	case !ok:
		return p.neighMiss(v, dir)
	case v.xmit.inputOnly() && dir == conntrack.DirReply:
		return p.drop(DropNoConn)
	case v.sp != spOff, v.flags.has(connPP): // SYN-proxied, or with a PROXY header: no fragments
		return p.drop(DropFragUnsupported)
	case v.xmit == xmitNAT64:
		return p.nat64Fragment(cur, e, dir, h)
	case v.xmit == xmitNAT || v.xmit == xmitFullNAT:
		rewriteL3(cur.frame, &cur.pkt, &e.Tuples[dir^1])
		return p.send(cur, e, dir, h)
	}
	return xmitFuncs[v.xmit](p, cur, e, dir, h)
}

// fragHold copies a fragment that came before its datagram's first into the pool, at the end of
// the datagram's held list. A full pool drops the datagram.
func (p *Pipeline) fragHold(cur *cursor, e *fragEntry) (Verdict, int) {
	pool := &p.frags.pool
	s := pool.get()
	if s < 0 {
		return p.fragDrop(e, DropFragBufferFull)
	}
	pool.lens[s] = uint16(copy(pool.slot(s), cur.frame))
	pool.ins[s] = uint8(cur.in)
	if e.heldTail >= 0 {
		pool.next[e.heldTail] = s
	} else {
		e.held = s
	}
	e.heldTail = s
	p.c.fragHeld++
	return VerdictConsumed, 0
}

// fragDrop drops the fragment and the datagram: its held fragments (counted under r too), and
// those to come (frag_dropped_datagram, until the entry expires).
func (p *Pipeline) fragDrop(e *fragEntry, r DropReason) (Verdict, int) {
	p.c.drops[r] += uint64(p.fragRelease(e))
	e.state = fragDropped
	return p.drop(r)
}

// fragRelease frees the datagram's held fragments and returns how many there were.
func (p *Pipeline) fragRelease(e *fragEntry) int {
	pool, n := &p.frags.pool, 0
	for s := e.held; s >= 0; {
		next := pool.next[s]
		pool.put(s)
		s = next
		n++
	}
	e.held, e.heldTail = -1, -1
	return n
}

// fragExpire ends an entry past its time: its held fragments are dropped (frag_timeout).
func (p *Pipeline) fragExpire(e *fragEntry) {
	p.c.drops[DropFragTimeout] += uint64(p.fragRelease(e))
	if e.state != fragDropped {
		p.c.fragExpired++
	}
	e.state = fragFree
}

func (p *Pipeline) fragFree(e *fragEntry) {
	p.fragRelease(e)
	e.state = fragFree
}

// expireFragments examines the next fragSweep entries of the fragment table and ends those past
// their time, so that a datagram whose fragments stopped coming frees its held ones.
func (p *Pipeline) expireFragments(now int64) {
	t := p.frags
	for range fragSweep {
		e := &t.e[t.sweep]
		t.sweep = (t.sweep + 1) & (fragTableSize - 1)
		if e.state != fragFree && e.expires <= now {
			p.fragExpire(e)
		}
	}
}

// flowOwner is the worker that owns the connection of a packet of flow t (with its ports): the
// client's owner for a packet to a service or from a NAT real server, the local port's for one to
// a FULLNAT local address. ok is false when the flow is none of these.
func (p *Pipeline) flowOwner(t *header.Tuple) (int, bool) {
	if p.workers == 1 {
		_, isSvc := p.conf.lookupService(t.Proto, &t.DstAddr, t.DstPort)
		return 0, isSvc || p.conf.isLocal(&t.DstAddr) || p.conf.isReply(t.Proto, &t.SrcAddr, t.SrcPort)
	}
	c := p.conf
	if _, isSvc := c.lookupService(t.Proto, &t.DstAddr, t.DstPort); isSvc {
		return owner(&t.SrcAddr, t.SrcPort, p.workers), true
	}
	switch {
	case c.isLocal(&t.DstAddr):
		return localOwner(t.DstPort, p.workers), true
	case c.isReply(t.Proto, &t.SrcAddr, t.SrcPort):
		return owner(&t.DstAddr, t.DstPort, p.workers), true
	}
	return 0, false
}

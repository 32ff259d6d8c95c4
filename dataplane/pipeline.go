package dataplane

import (
	"slices"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
	"github.com/xdpvs/xdpvs/sched"
	"github.com/xdpvs/xdpvs/synproxy"
	"github.com/xdpvs/xdpvs/toa"
)

// Port is one interface the dataplane forwards on, by its position in the configuration.
type Port struct {
	Name    string
	Ifindex int
	MAC     header.MAC
	MTU     int // 0: 1500
}

func (p *Port) mtu() int {
	if p.MTU == 0 {
		return 1500
	}
	return p.MTU
}

// connVal is what a connection carries besides its tuples: a small fixed rewrite record. The new
// addresses and ports of a packet are the reverse of the connection's other tuple, so only the
// egress side is stored.
type connVal struct {
	tmpl    uint32    // persistence template slot + 1, 0 = none
	destID  uint16    // < MaxDests
	destGen uint16    // the real server's generation when the connection was made
	neigh   [2]uint16 // per direction: neighbour index of the next hop (< maxNeighbours)
	svcID   uint16
	out     [2]uint8 // per direction: egress port
	flags   connFlags
	xmit    xmitKind // how its packets are transmitted, bound when it opens
	sp      spPhase  // SYN proxy: where the handshake is (spOff: not proxied)
}

// connFlags are a connection's yes-or-no facts, in two bytes (connVal is no larger for it: the
// second fills what was padding).
type connFlags uint16

const (
	connInactive     connFlags = 1 << iota // counted in the real server's InActConn rather than ActiveConn
	connTOADone                            // FULLNAT: a client segment with data has carried the TOA option
	connSeen                               // UDP: a packet of it has been forwarded
	connAssured                            // UDP: a second packet, or a reply: no longer evictable (defense.go)
	connSloppy                             // TCP: opened by a segment other than a SYN, unassured until a second one (sloppy.go)
	connStandbyLocal                       // FULLNAT, imported: its local address is a peer's, its port from no pool of ours
	connPP                                 // FULLNAT: the client's stream starts with a PROXY protocol header (proxyproto.go)
	connPPSent                             // the header has gone out (UDP: on the first datagram; TCP: counts resends)
	connFastOriginal                       // the steering program holds the original direction's record (fastpath.go)
	connFastReply                          // and the reply direction's: connFastOriginal << dir
)

func (f connFlags) has(x connFlags) bool { return f&x != 0 }

func (f *connFlags) set(x connFlags, on bool) {
	if on {
		*f |= x
	} else {
		*f &^= x
	}
}

// svcState is a worker's mutable state of one service: its scheduler instance over the shared
// table (kept while the service's schedBuild is), its view of the real servers with its connection
// counts, and its FULLNAT cursor.
type svcState struct {
	build   *schedBuild // what sched is an instance of
	sched   sched.Scheduler
	dests   []sched.Dest
	lipNext int // FULLNAT: the local address to try first
}

// counters are one worker's. Only the worker writes them; Stats reads a copy the worker makes.
type counters struct {
	rx, tx, handoffOut, handoffIn   uint64
	drops                           [NumDropReasons]uint64
	parse                           [header.NumParseResults]uint64
	svc                             [MaxServices]Counters
	svcKey                          [MaxServices]svcKey // the service the counters at an id belong to
	dest                            [MaxDests]Counters
	destGen                         [MaxDests]uint16 // the real-server generation of dest[id], active[id], inactive[id]
	active, inactive                [MaxDests]int64
	synTimeouts                     [MaxDests]uint64
	reopened                        uint64                        // connections expired for a new one (server gone, tuple reused)
	sloppy                          uint64                        // TCP connections opened by a segment other than a SYN (sloppy.go)
	tunnelled, icmpSent, translated uint64                        // packets put in a tunnel; ICMP errors the director sent
	mssNotLowered                   uint64                        // FULLNAT SYN/ACKs without an MSS option to lower for TOA
	toa                             [toa.NumResults]uint64        // FULLNAT: TOA insertions by outcome
	pp                              [proxyproto.NumResults]uint64 // FULLNAT: PROXY protocol header insertions by outcome
	ppResent                        uint64                        // headers inserted again, into a retransmitted first segment
	policy                          [MaxServices]BackendPolicy    // of each live service id; dead ids: 0, the defaults
	sp                              spCounters
	panics                          uint64 // recovered by the worker (worker_panic)
	flowErrors                      uint64 // NAT connections whose reply tuple the steering program refused (removed)
	evicted                         uint64 // unassured connections evicted to make room for new ones
	defended                        uint64 // packets of unassured connections given the defence's short timeout
	sumsCompleted                   uint64 // TCP/UDP checksums left to transmit offload, completed (completeChecksum)
	sync                            syncCounters
	fragHeld                        uint64 // fragments held until their datagram's first came (frag.go)
	fragExpired                     uint64 // datagrams whose fragments stopped coming before the end
	fragEvicted                     uint64 // datagrams without their first fragment evicted for a new one
	fragMade                        uint64 // fragments the director made of packets too big for a tunnel (DF clear)
	fastInstalled, fastRemoved      uint64 // fast-path records made and removed (fastpath.go)
	fastPackets, fastBytes          uint64 // forwarded by the program, as folded
	fastRefused                     uint64 // records the program's map refused (full): those connections stay with the worker
	fastErrors                      uint64 // record removals the program's map failed (a kernel error: never seen)
}

// Pipeline is one worker's packet processing: classify, look up or create the connection, rewrite,
// choose the egress port. It is not safe for concurrent use and performs no I/O, so tests and
// benchmarks drive it directly with frames.
type Pipeline struct {
	id, workers  int
	ports        []Port
	neigh        *Neighbours
	neighRefs    *neighRefs // this worker's references on neighbour slots, one per connection and direction
	hops         *hopCache  // this worker's memory of next hops (hopcache.go)
	conf         *compiled
	svcState     []svcState
	table        *conntrack.Table[connVal]
	tmpls        *templates                // shared by every worker
	lpools       map[header.Addr]*portPool // FULLNAT: this worker's ports of each local address
	cookies      *synproxy.Cookies         // shared by every worker
	sp           *spState                  // nil until a SYN-proxied service appears
	pp           []ppConn                  // by connection id; nil until a --proxy-protocol service appears
	ppBuf        [proxyproto.MaxLen]byte   // where a PROXY protocol header is written before it is inserted
	flows        *flowLog                  // NAT connections opened and closed, for the steering program (nil: none to tell)
	fast         *fastPath                 // the XDP fast path's records and counts (nil: off)
	defense      control.DefenseMode       // the table's defence (defense.go)
	pressureAt   int                       // connections in the table from which DefenseAuto is on
	minMTU       int                       // of the ports: what the SYN proxy's MSS is made for
	completeSums bool                      // finish checksums left to transmit offload (Config.CompleteChecksums)
	tunSrc       *tunnelSources            // the tunnels' source addresses (tunsrc.go), shared by every worker
	sync         *syncState                // connection sync (sync.go); nil: off
	frags        *fragTable                // the datagrams of the fragments this worker gathers or follows (frag.go)
	c            *counters
	ra           *readAhead // the batch ReadAhead last read (readahead.go)
	// cur is the storage of the cursor ProcessAt (or the expiry timer, spGenerate) fills for each
	// packet and passes down the path. Nothing reads it but through that pointer: it is kept here
	// only because pointers into it escape (through xmitFuncs, and to the scheduler, an interface,
	// which is passed its tuple), and a cursor on the stack would cost an allocation per packet.
	cur cursor
}

// newPipeline returns worker id's pipeline (of workers) with a table of capacity connections.
func newPipeline(id, workers int, ports []Port, neigh *Neighbours, capacity int, now int64) *Pipeline {
	p := &Pipeline{id: id, workers: workers, ports: ports, neigh: neigh, neighRefs: neigh.register(), hops: newHopCache(), c: new(counters), tmpls: newTemplates(1 << 12),
		lpools: map[header.Addr]*portPool{}, cookies: newCookies(), minMTU: 1500, tunSrc: new(tunnelSources), frags: newFragTable(),
		ra: new(readAhead)}
	for i := range ports {
		p.minMTU = min(p.minMTU, ports[i].mtu())
	}
	p.table = newConnTable(capacity, now, p.expired)
	p.table.SetEvictor(conntrack.Evictor[connVal]{Evictable: p.unassured, Evicted: p.evicted})
	p.setConfig(&compiled{services: map[svcKey]int{}, replies: map[rsKey]struct{}{}, timeouts: conntrack.DefaultTimeouts()})
	return p
}

// setConfig switches to a new configuration: scheduler instances of the tables compile built
// (a service whose schedBuild is unchanged keeps its instance), and counters reset for ids that
// now name another service or real server. Connections are kept; those of a real server that is
// gone see its generation zeroed. It runs in the worker's loop, so it builds nothing that
// compile could: its cost is a few small copies per service.
func (p *Pipeline) setConfig(c *compiled) {
	var kept map[*schedBuild]sched.Scheduler
	if p.conf != nil {
		kept = make(map[*schedBuild]sched.Scheduler, len(p.svcState))
		for i := range p.svcState {
			kept[p.svcState[i].build] = p.svcState[i].sched
		}
		live := map[uint16]bool{}
		for i := range c.svcs {
			for j := range c.svcs[i].dests {
				live[c.svcs[i].dests[j].id] = true
			}
		}
		for i := range p.conf.svcs {
			p.c.policy[p.conf.svcs[i].id] = 0
			for j := range p.conf.svcs[i].dests {
				if id := p.conf.svcs[i].dests[j].id; !live[id] {
					p.c.destGen[id] = 0
				}
			}
		}
	}
	st := make([]svcState, len(c.svcs))
	for i := range c.svcs {
		s := &c.svcs[i]
		if s.synproxy && p.sp == nil {
			p.sp = newSPState(p.table.Cap()) // kept from then on: connections refer to it
		}
		if s.pp != proxyproto.None && p.pp == nil {
			p.pp = make([]ppConn, p.table.Cap()) // likewise
		}
		if p.c.svcKey[s.id] != s.key {
			p.c.svcKey[s.id], p.c.svc[s.id] = s.key, Counters{}
		}
		p.c.policy[s.id] = s.policy
		// Both lists of local addresses, read in place: c is shared by every worker and never
		// written (appending one list to the other once wrote into the first's spare capacity).
		for _, lips := range [2][]header.Addr{s.lips, s.lips4} {
			for _, l := range lips {
				if p.lpools[l] == nil { // kept across configurations: live connections hold ports
					p.lpools[l] = newPortPool(p.id, p.workers)
				}
			}
		}
		for j := range s.dests {
			d := &s.dests[j]
			if p.c.destGen[d.id] != d.gen {
				p.c.destGen[d.id], p.c.dest[d.id], p.c.active[d.id], p.c.inactive[d.id] = d.gen, Counters{}, 0, 0
				p.c.synTimeouts[d.id] = 0
			}
		}
		inst, ok := kept[s.sched]
		if !ok {
			inst = s.sched.table.Instance()
		}
		// The view is fresh, as it always was: overload marks restart from the counts.
		st[i] = svcState{build: s.sched, sched: inst, dests: slices.Clone(s.sched.dests)}
	}
	p.conf, p.svcState = c, st
	p.setDefense(&c.defense)
	if p.fast != nil && len(p.fast.list) > 0 {
		p.fast.flushAll = true // ids, policies and tunnel sources may have changed: made afresh
	}
}

func (p *Pipeline) drop(r DropReason) (Verdict, int) {
	p.c.drops[r]++
	return VerdictDrop, 0
}

// Process handles one frame received on port in, rewriting it in place. It returns VerdictTX and
// the egress port, VerdictHandoff and the owning worker, or VerdictDrop (counted). The frame has no
// headroom: a packet that needs some (a tunnel) is dropped; see ProcessAt.
func (p *Pipeline) Process(frame []byte, in int, now int64) (Verdict, int) {
	v, port, _, _ := p.ProcessAt(frame, 0, len(frame), in, now)
	return v, port
}

// ProcessAt is Process for the packet buf[off:off+n], whose headroom (the bytes before off) and
// tailroom (after off+n, up to len(buf)) a rewrite may use. It also returns where the packet lies
// afterwards.
func (p *Pipeline) ProcessAt(buf []byte, off, n, in int, now int64) (v Verdict, port, outOff, outLen int) {
	cur := &p.cur
	// Field by field: Parse fills cur.pkt, and zeroing it first costs a fifth of a hot hit.
	cur.buf, cur.frame, cur.off, cur.outOff, cur.outLen, cur.in = buf, buf[off:off+n], off, off, n, in
	cur.gathered, cur.hashed = false, false
	v, port = p.process(cur, now)
	return v, port, cur.outOff, cur.outLen
}

// ProcessGatheredAt is ProcessAt for a fragment its datagram's gatherer handed over
// (VerdictHandoffFragment) or released here: it follows its datagram's first fragment (frag.go).
func (p *Pipeline) ProcessGatheredAt(buf []byte, off, n, in int, now int64) (v Verdict, port, outOff, outLen int) {
	cur := &p.cur
	cur.buf, cur.frame, cur.off, cur.outOff, cur.outLen, cur.in = buf, buf[off:off+n], off, off, n, in
	cur.gathered, cur.hashed = true, false
	v, port = p.process(cur, now)
	return v, port, cur.outOff, cur.outLen
}

// process parses the packet and classifies it.
func (p *Pipeline) process(cur *cursor, now int64) (Verdict, int) {
	return p.classify(cur, cur.pkt.Parse(cur.frame), now)
}

// classify hands the packet, parsed with result r, on: to fragment, to icmpError, or to lookup.
func (p *Pipeline) classify(cur *cursor, r header.ParseResult, now int64) (Verdict, int) {
	p.c.rx++
	pkt := &cur.pkt
	frame := cur.frame
	if r != header.ParseOK {
		p.c.parse[r]++
		return VerdictDrop, 0
	}
	if p.conf.standby {
		return p.drop(DropStandby)
	}
	switch {
	case pkt.IsIPv6 && (pkt.Tuple.SrcAddr.Is4() || pkt.Tuple.DstAddr.Is4()):
		// IPv4-mapped addresses never appear on the wire (RFC 4291 §2.5.5.2), and would alias
		// IPv4 tuples here.
		return p.drop(DropMappedAddr)
	case pkt.HasVLAN:
		return p.drop(DropVLAN)
	case pkt.Fragment && (pkt.Proto == header.ProtocolTCP || pkt.Proto == header.ProtocolUDP):
		return p.fragment(cur, now)
	case pkt.Fragment:
		return p.drop(DropFragment)
	case pkt.Proto == header.ProtocolTCP || pkt.Proto == header.ProtocolUDP:
	case pkt.Proto == header.ProtocolICMP || pkt.Proto == header.ProtocolICMPv6:
		if pkt.IsICMPError(frame) {
			return p.icmpError(cur)
		}
		return p.drop(DropProto)
	default:
		return p.drop(DropProto)
	}
	return p.lookup(cur, now)
}

// lookup hands a TCP or UDP packet (or a first fragment) on to its connection (forward, or the SYN
// proxy's spForward), or to miss.
func (p *Pipeline) lookup(cur *cursor, now int64) (Verdict, int) {
	pkt := &cur.pkt
	if p.completeSums && !pkt.Fragment { // a fragment's checksum covers the datagram: the sender's to fill
		p.completeChecksum(cur)
	}
	if !cur.hashed { // else read ahead (readahead.go)
		cur.hash, cur.hashed = p.table.Hash(&pkt.Tuple), true
	}
	if id, dir, ok := p.table.LookupHashed(&pkt.Tuple, cur.hash); ok {
		e := p.table.Entry(id)
		v := &e.Value
		switch {
		case p.c.destGen[v.destID] != v.destGen && p.c.policy[v.svcID]&KeepRemovedConns == 0:
			// Its real server is gone: expire the connection; a packet from the client may
			// open a new one (at once for UDP, on a new SYN for TCP).
			p.remove(id, e)
			if dir == conntrack.DirReply {
				return p.drop(DropDestGone)
			}
			p.c.reopened++
			return p.miss(cur, now)
		case dir == conntrack.DirOriginal && pkt.Proto == header.ProtocolTCP && finished(e) &&
			p.c.policy[v.svcID]&NoConnReuse == 0 &&
			pkt.TCPFlags&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) == header.TCPFlagSyn:
			// A new connection on the tuple of a finished one: schedule it afresh.
			p.remove(id, e)
			p.c.reopened++
			return p.miss(cur, now)
		case v.sp != spOff && pkt.Fragment:
			return p.drop(DropFragUnsupported)
		case v.sp != spOff:
			if dir == conntrack.DirOriginal && finished(e) && p.c.policy[v.svcID]&NoConnReuse == 0 && p.spCookieACK(cur, now) {
				// A new connection on the tuple of a finished one, its SYN answered by another
				// worker: open it afresh.
				p.remove(id, e)
				p.c.reopened++
				return p.miss(cur, now)
			}
			return p.spForward(cur, id, e, dir, now)
		}
		return p.forward(cur, id, dir, now)
	}
	return p.miss(cur, now)
}

// reclaimReply removes the finished TCP connection whose reply tuple is reply, for a new connection
// that needs it, and reports whether there was one. A NAT client that reuses a port towards
// another service of the same real server (VIP:80 and VIP:81 to RS:8080) makes the same reply
// tuple while the old connection lingers in TIME_WAIT; IPVS lets the new one have it (its table
// takes duplicates, the newest found first) and the real server's kernel accepts the SYN on its
// TIME_WAIT socket. Refused (tuple_taken), the SYN would have cost the scheduler a turn and the
// client a retransmission. A connection not yet finished keeps its tuple.
func (p *Pipeline) reclaimReply(reply *header.Tuple) bool {
	if reply.Proto != header.ProtocolTCP {
		return false
	}
	id, dir, ok := p.table.Lookup(reply)
	if !ok || dir != conntrack.DirReply {
		return false
	}
	e := p.table.Entry(id)
	if !finished(e) || p.c.policy[e.Value.svcID]&NoConnReuse != 0 || e.Value.xmit.fullNAT() {
		// (A FULLNAT reply tuple names a local port its pool handed out once: not reused.)
		return false
	}
	p.remove(id, e)
	p.c.reopened++
	return true
}

// finished reports whether a connection is over as far as the director can tell, so that a SYN on
// its tuple opens a new one (IPVS's is_new_conn_expected with conn_reuse_mode 1|2): TIME_WAIT or
// CLOSE, or FIN_WAIT for a DR or TUN connection, whose server side the director never sees and
// whose state therefore stops there.
func finished(e *conntrack.Entry[connVal]) bool {
	switch e.State {
	case conntrack.StateTimeWait, conntrack.StateClose:
		return true
	case conntrack.StateFinWait:
		return e.Value.xmit.inputOnly()
	}
	return false
}

// lookupService finds the service of a packet to (proto, addr, port): the fwmark service of its
// mark first (as IPVS looks up a marked packet's), then the exact port, then an all-ports service.
func (c *compiled) lookupService(proto uint8, addr *header.Addr, port uint16) (int, bool) {
	if len(c.marks) > 0 {
		if m, ok := c.markOf(proto, addr, port); ok {
			if i, ok := c.services[markKey(m, addr)]; ok {
				return i, true
			}
		}
	}
	if i, ok := c.services[svcKey{addr: *addr, port: port, proto: uint16(proto)}]; ok {
		return i, true
	}
	i, ok := c.services[svcKey{addr: *addr, proto: uint16(proto)}]
	return i, ok
}

// isReply reports whether (proto, addr, port) is the source of NAT replies: a real server, or one
// with port 0 (of an all-ports service, answering from the client's destination port).
func (c *compiled) isReply(proto uint8, addr *header.Addr, port uint16) bool {
	if _, ok := c.replies[rsKey{addr: *addr, port: port, proto: proto}]; ok {
		return true
	}
	_, ok := c.replies[rsKey{addr: *addr, proto: proto}]
	return ok
}

// ownerKey keys owner: random per process, shared by its workers.
var ownerKey = header.NewHashKey()

// owner is the worker that owns connections of the client (addr, port): a keyed hash both
// directions of a flow can compute without shared state, and that nobody outside can aim at one
// worker.
func owner(addr *header.Addr, port uint16, workers int) int {
	t := header.Tuple{SrcAddr: *addr, SrcPort: port}
	return int((t.Hash(&ownerKey) >> 32) % uint64(workers))
}

// miss handles a packet without a connection entry here: hand it to its owner, or open a connection.
func (p *Pipeline) miss(cur *cursor, now int64) (Verdict, int) {
	c, pkt, t := p.conf, &cur.pkt, &cur.pkt.Tuple
	si, isSvc := c.lookupService(t.Proto, &t.DstAddr, t.DstPort)
	if isSvc && c.svcs[si].synproxy && pkt.Fragment {
		return p.drop(DropFragUnsupported)
	}
	if isSvc && c.svcs[si].synproxy &&
		pkt.TCPFlags&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst|header.TCPFlagFin) == header.TCPFlagSyn {
		// Stateless, so on whichever worker the SYN arrives: no hand-off for a flood. (Any other
		// segment may belong to a connection of its owner, and goes there.)
		return p.spAnswer(cur, si, now)
	}
	if p.workers > 1 {
		o, ok := p.flowOwner(t)
		if !ok {
			return p.drop(DropNoService)
		}
		if o != p.id {
			p.c.handoffOut++
			return VerdictHandoff, o
		}
	}
	if !isSvc {
		if c.isLocal(&t.DstAddr) || c.isReply(t.Proto, &t.SrcAddr, t.SrcPort) {
			return p.drop(DropNoConn)
		}
		return p.drop(DropNoService)
	}
	if c.svcs[si].synproxy {
		if pkt.TCPFlags&header.TCPFlagRst != 0 {
			return p.drop(DropNoConn)
		}
		h, r := p.cookies.Validate(cur.frame[pkt.L3Offset:pkt.L3Offset+pkt.L3Length], now)
		p.c.sp.cookie[r]++
		if r != synproxy.OK {
			return p.drop(DropSynProxyCookie)
		}
		return p.spOpen(cur, si, &h, now)
	}
	if t.Proto == header.ProtocolTCP &&
		pkt.TCPFlags&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) != header.TCPFlagSyn {
		// A SYN opens a TCP connection, as in IPVS; a mid-flow segment may (sloppy.go).
		return p.sloppyConn(cur, si, now)
	}
	return p.newConn(cur, si, now)
}

// newConn opens the connection of the packet's flow and forwards the packet.
func (p *Pipeline) newConn(cur *cursor, si int, now int64) (Verdict, int) {
	id, r, ok := p.open(&cur.pkt.Tuple, si, false, now)
	if !ok {
		return p.drop(r)
	}
	return p.forward(cur, id, conntrack.DirOriginal, now)
}

// hashOf is the table's hash of t: the cursor's when t is the packet's tuple and lookup hashed it.
func (p *Pipeline) hashOf(t *header.Tuple) uint64 {
	if t == &p.cur.pkt.Tuple && p.cur.hashed {
		return p.cur.hash
	}
	return p.table.Hash(t)
}

// open schedules a real server of service si for the flow t and creates its connection, with its
// transmit function bound, or says why not. For a service whose replies come back (NAT), the
// client's next hop is checked first, so that a packet dropped for it does not cost the scheduler
// a turn. A sloppy connection (one a segment other than a SYN opens) is made only to a DR or TUN
// real server: else no_conn.
func (p *Pipeline) open(t *header.Tuple, si int, sloppy bool, now int64) (id uint32, r DropReason, ok bool) {
	s, st := &p.conf.svcs[si], &p.svcState[si]
	var out1 int
	var n1 slotRef
	if s.replies {
		o, n, routed, ok := p.neigh.nextHop(&t.SrcAddr, p.hops)
		if !routed {
			return 0, DropNoRoute, false
		}
		if !ok {
			return 0, DropNeighMiss, false
		}
		out1, n1 = o, n
	}
	p.loadDests(s, st)
	nowSec := uint32(now / 1e9)
	k, slot, tkey := -1, -1, uint64(0)
	if s.persist != 0 {
		k, slot, tkey = p.persistentDest(s, st, t, nowSec)
	}
	if k < 0 {
		if k = st.sched.Schedule(t, st.dests); k < 0 {
			return 0, DropNoDest, false
		}
	}
	d := &s.dests[k]
	if sloppy && d.method != ForwardRoute && d.method != ForwardTunnel {
		return 0, DropNoConn, false
	}
	if d.method == ForwardFullNAT && !s.hasLocal(d.addr.Is4() != t.SrcAddr.Is4()) {
		return 0, DropNoLocalPort, false // no local address yet (--add-laddr): not a neighbour to resolve
	}
	rport := d.port
	if rport == 0 {
		rport = t.DstPort
	}
	reply := header.Tuple{SrcAddr: d.addr, DstAddr: t.SrcAddr, SrcPort: rport, DstPort: t.SrcPort, Proto: t.Proto}
	out0, n0, routed, ok := p.neigh.nextHop(&d.addr, p.hops)
	if !routed {
		return 0, DropNoRoute, false
	}
	if !ok {
		return 0, DropNeighMiss, false
	}
	if d.method == ForwardFullNAT {
		lip, lport, ok := p.allocLocal(si, d.addr.Is4() != t.SrcAddr.Is4())
		if !ok {
			return 0, DropNoLocalPort, false
		}
		reply.DstAddr, reply.DstPort = lip, lport
	}
	steered := d.method == ForwardMasq && p.flows != nil
	if steered && p.flows.room() == 0 {
		return 0, DropFlowLogFull, false // cannot happen: the worker drains the log after each batch
	}
	state := conntrack.StateNone
	if t.Proto == header.ProtocolUDP {
		state = conntrack.StateUDP
	}
	exp := now + p.conf.timeouts[state]
	if s.synproxy {
		exp = now + spRetryBase // the SYN proxy's timer: our SYN is sent again if unanswered
	}
	id, res := p.table.InsertHashed(t, &reply, p.hashOf(t), exp)
	if res == conntrack.Exists && p.reclaimReply(&reply) {
		id, res = p.table.InsertHashed(t, &reply, p.hashOf(t), exp)
	}
	if res != conntrack.Inserted {
		if d.method == ForwardFullNAT {
			p.lpools[reply.DstAddr].put(reply.DstPort)
		}
		return 0, insertDrops[res], false
	}
	e := p.table.Entry(id)
	if !p.holdHops(n0, n1) {
		// A next hop's slot was recycled since it was looked up (rare): a miss.
		p.table.Delete(id)
		if d.method == ForwardFullNAT {
			p.lpools[reply.DstAddr].put(reply.DstPort)
		}
		return 0, DropNeighMiss, false
	}
	e.State = state
	e.Value = connVal{destID: d.id, destGen: d.gen, neigh: [2]uint16{uint16(n0.idx), uint16(n1.idx)}, svcID: s.id,
		out: [2]uint8{uint8(out0), uint8(out1)}, xmit: bindXmit(d.method, d.addr.Is4() == t.SrcAddr.Is4())}
	if s.persist != 0 {
		p.holdTemplate(e, s, d, slot, tkey, nowSec)
	}
	if s.pp != proxyproto.None && d.method == ForwardFullNAT {
		p.ppOpen(id, e, s.pp)
	}
	if steered {
		p.flows.opened(id, &reply)
	}
	p.syncOpened(id, now)
	p.c.svc[s.id].Conns++
	p.c.dest[d.id].Conns++
	p.c.active[d.id]++
	return id, 0, true
}

// loadDests gives the scheduler's view of service s's real servers this worker's connection
// counts, and marks those over their connection thresholds (IPVS's -x and -y on active plus
// inactive connections, with hysteresis; each worker holds its share of them).
func (p *Pipeline) loadDests(s *svcInfo, st *svcState) {
	for j := range s.dests {
		d, sd := &s.dests[j], &st.dests[j]
		if p.c.destGen[d.id] != d.gen {
			continue
		}
		sd.ActiveConns, sd.InactiveConns = int32(p.c.active[d.id]), int32(p.c.inactive[d.id])
		if d.upper > 0 {
			n, w := int64(sd.ActiveConns)+int64(sd.InactiveConns), int64(p.workers)
			switch {
			case n >= (d.upper+w-1)/w:
				sd.Overloaded = true
			case n < (d.lower+w-1)/w:
				sd.Overloaded = false
			}
		}
	}
}

// persistentDest looks up the persistence template of the client of flow t for service s: the
// index of the real server it names, if that one may take the connection (else -1), the template's
// slot (-1: none yet) and its key.
func (p *Pipeline) persistentDest(s *svcInfo, st *svcState, t *header.Tuple, nowSec uint32) (k, slot int, tkey uint64) {
	client := maskAddr(t.SrcAddr, s.maskBits)
	tkey = p.tmpls.keyOf(&s.key, &client)
	i, ok := p.tmpls.lookup(tkey)
	if !ok {
		return -1, -1, tkey
	}
	if v := p.tmpls.slots[i].val.Load(); v != 0 {
		// Valid until it expires, and beyond while it controls connections (IPVS).
		id, gen, exp := unpackTmpl(v)
		alive := exp > nowSec || p.tmpls.slots[i].refs.Load() > 0
		if j := s.destIndex(id, gen); alive && j >= 0 && !st.dests[j].Overloaded &&
			(st.dests[j].Weight > 0 || s.policy&PersistToQuiescent != 0) {
			return j, i, tkey
		}
	}
	return -1, i, tkey
}

// holdTemplate makes or refreshes the persistence template of connection e (in slot, or a new one
// for tkey): its real server d for this client for the service's timeout, and for as long as the
// connection lives.
func (p *Pipeline) holdTemplate(e *conntrack.Entry[connVal], s *svcInfo, d *destInfo, slot int, tkey uint64, nowSec uint32) {
	ok := slot >= 0
	if !ok {
		slot, ok = p.tmpls.claim(tkey)
	}
	if ok {
		ts := &p.tmpls.slots[slot]
		ts.val.Store(packTmpl(d.id, d.gen, nowSec+s.persist))
		ts.refs.Add(1)
		e.Value.tmpl = uint32(slot) + 1
	}
}

// holdHops takes the connection's references on its next hops (n1 may be none), all or nothing.
func (p *Pipeline) holdHops(n0, n1 slotRef) bool {
	if !p.neigh.hold(p.neighRefs, n0) {
		return false
	}
	if n1.idx != 0 && !p.neigh.hold(p.neighRefs, n1) {
		p.neigh.drop(p.neighRefs, n0.idx)
		return false
	}
	return true
}

// expired is the table's expiry callback: the connection goes.
func (p *Pipeline) expired(id uint32, e *conntrack.Entry[connVal]) bool {
	if p.fast != nil && offloaded(e) && p.fastLives(id, e) {
		return true
	}
	if e.Value.sp == spWaiting && p.spExpired(id, e) {
		return true
	}
	if e.State == conntrack.StateSynRecv && p.c.destGen[e.Value.destID] == e.Value.destGen {
		p.c.synTimeouts[e.Value.destID]++ // the client's SYN went out, the server never answered
	}
	p.forget(id, e)
	return false
}

// remove deletes connection id now (and tells the peers, if they have it).
func (p *Pipeline) remove(id uint32, e *conntrack.Entry[connVal]) {
	p.syncRemoved(id, e)
	p.forget(id, e)
	p.table.Delete(id)
}

// forget undoes what a connection counts for: its real server's connection counts, its
// persistence template's, its FULLNAT local port and its SYN proxy's pending slot.
func (p *Pipeline) forget(id uint32, e *conntrack.Entry[connVal]) {
	v := &e.Value
	if p.fast != nil && offloaded(e) {
		p.unoffload(id, e) // first: the program no longer forwards its packets
	}
	if v.sp != spOff {
		p.spRelease(&p.sp.conns[id])
	}
	if v.tmpl != 0 {
		p.tmpls.slots[v.tmpl-1].refs.Add(-1)
	}
	if v.xmit.fullNAT() && !v.flags.has(connStandbyLocal) {
		r := &e.Tuples[conntrack.DirReply]
		p.lpools[r.DstAddr].put(r.DstPort)
	}
	p.neigh.drop(p.neighRefs, uint32(v.neigh[0]))
	p.neigh.drop(p.neighRefs, uint32(v.neigh[1]))
	if v.xmit == xmitNAT && p.flows != nil {
		p.flows.closed(&e.Tuples[conntrack.DirReply])
	}
	if p.c.destGen[v.destID] != v.destGen {
		return
	}
	if v.flags.has(connInactive) {
		p.c.inactive[v.destID]--
	} else {
		p.c.active[v.destID]--
	}
}

// setState moves a connection to state s, keeping the real server's active/inactive counts as
// IPVS does: ESTABLISHED is active, every other state inactive.
func (p *Pipeline) setState(e *conntrack.Entry[connVal], s conntrack.State) {
	e.State = s
	v := &e.Value
	if inactive := s != conntrack.StateEstablished; inactive != v.flags.has(connInactive) {
		v.flags.set(connInactive, inactive)
		if p.c.destGen[v.destID] == v.destGen {
			d := int64(1)
			if !inactive {
				d = -1
			}
			p.c.active[v.destID] -= d
			p.c.inactive[v.destID] += d
		}
	}
}

// forward moves connection id on with a packet travelling in direction dir (its TCP state, its
// expiry) and transmits the packet with the connection's bound function.
func (p *Pipeline) forward(cur *cursor, id uint32, dir conntrack.Dir, now int64) (Verdict, int) {
	e := p.table.Entry(id)
	v := &e.Value
	h, ok := p.hop(v, dir)
	if !ok {
		return p.neighMiss(v, dir)
	}
	inputOnly := v.xmit.inputOnly() // replies bypass the director
	if inputOnly && dir == conntrack.DirReply {
		return p.drop(DropNoConn) // a DR/TUN server's traffic to the client never comes here
	}
	changed := false
	if cur.pkt.Proto == header.ProtocolTCP {
		if s := conntrack.NextTCPState(e.State, dir, inputOnly, cur.pkt.TCPFlags); s != e.State {
			p.setState(e, s)
			changed = true
			if p.fast != nil && s != conntrack.StateEstablished && offloaded(e) {
				// A FIN or an RST: its last packets (the ACKs that close it) move its state on,
				// so they are the worker's again.
				p.unoffload(id, e)
			}
		}
	}
	p.table.SetExpires(id, now+p.timeout(e, dir))
	if p.sync != nil {
		p.syncTouch(id, e, changed, now)
	}
	cur.conn = id
	vd, port := xmitFuncs[v.xmit](p, cur, e, dir, h)
	if p.fast != nil && vd == VerdictTX && !v.flags.has(fastFlag(dir)) && p.fastReady(cur, e, dir, h) {
		p.offload(cur, id, e, dir, h)
	}
	return vd, port
}

package dataplane

import (
	"time"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
	"github.com/xdpvs/xdpvs/synproxy"
	"github.com/xdpvs/xdpvs/toa"
)

// The SYN proxy of -j services (package synproxy has the cookies, the packets and the translation;
// this file has the states, the stored segments and the counters).
//
// A client's SYN is answered with a cookie by whichever worker receives it, before any hand-off:
// nothing is kept. Another client segment without a connection goes to its owner (it may belong
// to a connection there), which checks it as a cookie ACK: a forged one costs one hash and is
// dropped; a valid one opens the connection: the segment is stored in a pending slot and turned
// into the SYN to the real server.
//
//	spWaiting   our SYN is out. Client segments are held back (the first one carrying data, at
//	            the client's ISN+1, replaces a stored pure ACK, so a request sent with the
//	            handshake is not lost); the SYN is sent again after 1, 2 and 4 s (from the
//	            expiry timer), and then the client is reset. A RST from the server resets the
//	            client at once.
//	spReplayed  the server's SYN/ACK gave the sequence delta and became the replay of the stored
//	            segment, and the slot was freed. A retransmitted SYN/ACK (the replay was lost) is
//	            answered with the ACK that completes the server's handshake, made from it
//	            (synproxy.BuildACK); the client's data, never acknowledged, comes again by itself.
//	spOn        every segment is translated, for the life of the connection.
type spPhase uint8

const (
	spOff spPhase = iota // not SYN-proxied
	spWaiting
	spReplayed
	spOn
)

// A pending slot lives from the client's cookie ACK to the server's SYN/ACK: a round trip to the
// real server, or at most the SYN's retries (1 + 2 + 4 s) before the client is reset. A source (a
// client address; an IPv6 /64) holds at most spSlotsPerSource of a worker's slots, so that one host
// completing handshakes toward a silent server cannot take them all.
const (
	spSlots          = 1024 // pending handshakes per worker
	spSlotsPerSource = 64
	spSourceBuckets  = 4096 // per-source counts, by keyed hash of the source (a collision shares a count)
	spStoredMax      = 1600 // bytes of a stored client segment (its IP packet)
	spRetries        = 3    // SYNs re-sent to a silent real server before the client is reset
	spRetryBase      = int64(time.Second)
	// CookieRotation is how often the cookie secret is replaced. A cookie lives at most two slots
	// (128 s) and verifies with the previous secret too, so a rotation never kills a live one.
	CookieRotation = 10 * time.Minute
)

// spConn is what a SYN-proxied connection keeps beside the table, by connection id.
type spConn struct {
	d    synproxy.Delta
	slot uint16 // pending slot + 1 while spWaiting or spReplayed
}

// spPending is one handshake in progress: the client's segment to replay, and what its cookie said.
type spPending struct {
	h      synproxy.Handshake
	n      uint16 // bytes stored
	bucket uint16 // the source's count in spState.perSource
	tries  uint8  // SYNs re-sent
	data   bool   // the stored segment carries data
	ip     [spStoredMax]byte
}

// spState is one worker's SYN-proxy memory, made when the first -j service appears.
type spState struct {
	conns     []spConn // by connection id
	slots     []spPending
	free      []uint16
	perSource [spSourceBuckets]uint16 // pending slots of the sources hashed to each bucket
	key       header.HashKey          // of the buckets' hash: random, so that nobody may aim at one
	gen       genQueue                // packets the expiry timer made, for the worker to send
}

func newSPState(capacity int) *spState {
	s := &spState{conns: make([]spConn, capacity), slots: make([]spPending, spSlots), free: make([]uint16, spSlots),
		key: header.NewHashKey()}
	for i := range s.free {
		s.free[i] = uint16(spSlots - 1 - i)
	}
	return s
}

// spCounters count what the SYN proxy did, beside the drop reasons (which count each packet once).
type spCounters struct {
	answered   uint64                      // SYNs answered with a cookie
	answer     [synproxy.NumResults]uint64 // SYNs not answered, by reason
	cookie     [synproxy.NumResults]uint64 // client segments checked as cookie ACKs, by result (ok = valid)
	opened     uint64                      // connections opened to a real server after a valid cookie
	handshakes uint64                      // real servers' SYN/ACKs accepted: the connection is complete
	synack     [synproxy.NumResults]uint64 // real servers' SYN/ACKs refused, by reason
	replays    uint64                      // client segments replayed to the server
	reacked    uint64                      // SYN/ACKs the server sent again after the replay, answered with an ACK
	stored     uint64                      // client data segments stored in place of a pure ACK
	retries    uint64                      // SYNs re-sent to a silent server
	serverRST  uint64                      // handshakes the real server refused with a RST: client reset
	timeouts   uint64                      // handshakes the real server never answered: client reset
	deferred   uint64                      // timer packets put off to the next tick (queue full)
	translate  [synproxy.NumResults]uint64 // segments whose translation failed, by reason
}

// genHeadroom is the room before a generated packet, for a NAT64 rewrite of the SYN.
const (
	genHeadroom = 64
	genQueueLen = 64
)

// genFrame is a packet the pipeline made outside of processing a received one.
type genFrame struct {
	port, off, n int
	b            [genHeadroom + header.EthernetMinimumSize + spStoredMax]byte
}

// genQueue holds the packets the expiry timer made (SYNs re-sent, clients reset) until the worker
// sends them.
type genQueue struct {
	f [genQueueLen]genFrame
	n int
}

// generated returns the queue of packets the expiry timer made, or nil without a SYN proxy.
func (p *Pipeline) generated() *genQueue {
	if p.sp == nil {
		return nil
	}
	return &p.sp.gen
}

// frame returns queued packet i and its egress port.
func (g *genQueue) frame(i int) ([]byte, int) {
	f := &g.f[i]
	return f.b[f.off : f.off+f.n], f.port
}

// spMSS is the MSS our SYN/ACK announces to the client of flow t to service s: what the smallest
// link carries with the client's family's headers, less the TOA option FULLNAT adds to the client's
// segments, or the PROXY protocol header it puts into the first one.
func (p *Pipeline) spMSS(s *svcInfo, t *header.Tuple) uint16 {
	client := &t.SrcAddr
	mss := p.minMTU - header.IPv4MinimumSize - header.TCPMinimumSize
	if !client.Is4() {
		mss = p.minMTU - header.IPv6MinimumSize - header.TCPMinimumSize
	}
	switch {
	case s.pp != proxyproto.None:
		mss -= proxyproto.Encode(p.ppBuf[:], s.pp, t.Proto, t.SrcAddr, t.DstAddr, t.SrcPort, t.DstPort)
	case s.fullnat:
		mss -= toa.OptionSize(*client)
	}
	return uint16(max(mss, 536))
}

// spAnswer answers a client's SYN to SYN-proxied service si with a cookie, in place, back out of
// the port it came in on. Nothing is kept.
func (p *Pipeline) spAnswer(cur *cursor, si int, now int64) (Verdict, int) {
	pkt := &cur.pkt
	n, r := p.cookies.Answer(cur.buf[cur.off+pkt.L3Offset:], now, p.spMSS(&p.conf.svcs[si], &pkt.Tuple))
	if r != synproxy.OK {
		p.c.sp.answer[r]++
		return p.drop(DropSynProxySYN)
	}
	p.c.sp.answered++
	return p.reflect(cur, n)
}

// reflect sends the packet the SYN proxy rebuilt in place (n bytes of IP packet, its addresses
// already swapped) back out of the port it came in on, to the MAC it came from.
func (p *Pipeline) reflect(cur *cursor, n int) (Verdict, int) {
	back := hopTo(cur.in, header.Ethernet(cur.frame).SourceAddress())
	cur.rebuilt(cur.pkt.L3Offset + n)
	return p.transmit(cur, back)
}

// spOpen opens the connection of a client whose segment proved its cookie (h): the segment is
// stored for the replay and becomes, in place, the SYN to the scheduled real server.
func (p *Pipeline) spOpen(cur *cursor, si int, h *synproxy.Handshake, now int64) (Verdict, int) {
	pkt := &cur.pkt
	sp := p.sp
	if pkt.L3Length > spStoredMax {
		return p.drop(DropSynProxyTooBig) // the client sends it again, or smaller
	}
	if len(sp.free) == 0 {
		return p.drop(DropSynProxyNoSlot)
	}
	bucket := sp.sourceBucket(&pkt.Tuple.SrcAddr)
	if sp.perSource[bucket] >= spSlotsPerSource {
		return p.drop(DropSynProxySourceLimit)
	}
	id, reason, ok := p.open(&pkt.Tuple, si, false, now)
	if !ok {
		return p.drop(reason)
	}
	slot := sp.free[len(sp.free)-1]
	sp.free = sp.free[:len(sp.free)-1]
	sp.perSource[bucket]++
	ps := &sp.slots[slot]
	ps.h, ps.tries, ps.data, ps.bucket = *h, 0, pkt.L3Offset+pkt.L3Length > pkt.PayloadOffset, bucket
	ps.n = uint16(copy(ps.ip[:], cur.frame[pkt.L3Offset:pkt.L3Offset+pkt.L3Length]))
	sp.conns[id] = spConn{slot: slot + 1}
	e := p.table.Entry(id) // its timer is the SYN proxy's (open)
	e.Value.sp = spWaiting
	n, r := synproxy.BuildSYN(cur.buf[cur.off+pkt.L3Offset:], h)
	if r != synproxy.OK { // cannot happen: the SYN is never longer than the ACK plus 8 bytes
		p.remove(id, e)
		return p.drop(DropSynProxyTooBig)
	}
	cur.rebuilt(pkt.L3Offset + n)
	if pkt.Parse(cur.frame) != header.ParseOK { // cannot happen: BuildSYN writes a well-formed SYN
		p.remove(id, e)
		return p.drop(DropSynProxyMalformed)
	}
	p.c.sp.opened++
	v, port := p.forward(cur, id, conntrack.DirOriginal, now)
	p.table.SetExpires(id, now+spRetryBase)
	return v, port
}

// spForward handles a segment of SYN-proxied connection id (e) in direction dir.
func (p *Pipeline) spForward(cur *cursor, id uint32, e *conntrack.Entry[connVal], dir conntrack.Dir, now int64) (Verdict, int) {
	pkt := &cur.pkt
	v, sc := &e.Value, &p.sp.conns[id]
	tcp := header.TCP(cur.frame[pkt.L4Offset : pkt.L3Offset+pkt.L3Length])
	flags := pkt.TCPFlags
	const synAckRst = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst
	if dir == conntrack.DirOriginal {
		if v.sp == spWaiting {
			switch {
			case flags&(synAckRst|header.TCPFlagFin) == header.TCPFlagSyn:
				// The client's SYN again (reordered or retransmitted): the same answer.
				if si, ok := p.conf.lookupService(pkt.Tuple.Proto, &pkt.Tuple.DstAddr, pkt.Tuple.DstPort); ok {
					return p.spAnswer(cur, si, now)
				}
			case flags&header.TCPFlagRst != 0:
				p.remove(id, e) // the client gave up; the server's answer will find nothing
			default:
				p.spStore(cur, sc, tcp)
			}
			return p.drop(DropSynProxyHeld)
		}
		if r := synproxy.Translate(tcp, synproxy.ClientToServer, &sc.d); r != synproxy.OK {
			p.c.sp.translate[r]++
			return p.drop(DropSynProxyMalformed)
		}
		return p.forward(cur, id, dir, now)
	}
	switch {
	case v.sp == spOn:
	case v.sp == spWaiting && flags&header.TCPFlagRst != 0:
		return p.spResetClient(cur, id, e)
	case flags&synAckRst == header.TCPFlagSyn|header.TCPFlagAck:
		if v.sp == spWaiting {
			d, r := p.sp.slots[sc.slot-1].h.Delta(tcp)
			if r != synproxy.OK {
				p.c.sp.synack[r]++
				return p.drop(DropSynProxySynAck)
			}
			sc.d, v.sp = d, spReplayed
			p.c.sp.handshakes++
		}
		if sc.slot == 0 { // again, after the replay freed the slot: the replay was lost
			return p.spReACK(cur)
		}
		verdict, port := p.spReplay(cur, id, e, sc, now)
		if verdict == VerdictTX {
			p.spRelease(sc) // what the slot held is on its way
		}
		return verdict, port
	case v.sp == spWaiting:
		p.c.sp.synack[synproxy.NotSYNACK]++
		return p.drop(DropSynProxySynAck)
	default: // spReplayed: the server's first segment after its SYN/ACK; the handshake is over
		p.spRelease(sc)
		v.sp = spOn
	}
	if r := synproxy.Translate(tcp, synproxy.ServerToClient, &sc.d); r != synproxy.OK {
		p.c.sp.translate[r]++
		return p.drop(DropSynProxyMalformed)
	}
	return p.forward(cur, id, dir, now)
}

// spStore keeps a client's first data segment (tcp, the cursor's) in place of its stored pure ACK,
// so that a request sent right after the handshake reaches the server with the replay. Later
// segments are held back (dropped: the client sends them again once the server acknowledges).
func (p *Pipeline) spStore(cur *cursor, sc *spConn, tcp header.TCP) {
	pkt := &cur.pkt
	ps := &p.sp.slots[sc.slot-1]
	f := pkt.TCPFlags
	if ps.data || pkt.L3Offset+pkt.L3Length <= pkt.PayloadOffset || pkt.L3Length > spStoredMax ||
		f&header.TCPFlagAck == 0 || f&(header.TCPFlagSyn|header.TCPFlagRst) != 0 ||
		tcp.SequenceNumber() != ps.h.ClientISN+1 || tcp.AckNumber() != ps.h.CookieISN+1 {
		return
	}
	ps.n = uint16(copy(ps.ip[:], cur.frame[pkt.L3Offset:pkt.L3Offset+pkt.L3Length]))
	ps.data = true
	p.c.sp.stored++
}

// spLoad writes the stored client segment of sc over the cursor's packet (its Ethernet header
// kept, its EtherType set), or reports false if the buffer cannot hold it. The cursor's pkt is
// the caller's to parse again.
func (p *Pipeline) spLoad(cur *cursor, sc *spConn) bool {
	ps := &p.sp.slots[sc.slot-1]
	l3 := cur.off + header.EthernetMinimumSize
	if l3+int(ps.n) > len(cur.buf) {
		return false
	}
	copy(cur.buf[l3:], ps.ip[:ps.n])
	et := header.EtherTypeIPv4
	if ps.ip[0]>>4 == 6 {
		et = header.EtherTypeIPv6
	}
	header.Ethernet(cur.buf[cur.off:]).SetType(et)
	cur.rebuilt(header.EthernetMinimumSize + int(ps.n))
	return true
}

// spReplay turns the real server's SYN/ACK, in place, into the client's stored segment, translated
// into the server's sequence space, toward the server.
func (p *Pipeline) spReplay(cur *cursor, id uint32, e *conntrack.Entry[connVal], sc *spConn, now int64) (Verdict, int) {
	pkt := &cur.pkt
	if _, ok := p.hop(&e.Value, conntrack.DirOriginal); !ok { // before the frame is overwritten
		return p.neighMiss(&e.Value, conntrack.DirOriginal)
	}
	if !p.spLoad(cur, sc) {
		return p.drop(DropSynProxyTooBig)
	}
	frame := cur.frame
	if pkt.Parse(frame) != header.ParseOK {
		return p.drop(DropSynProxyMalformed)
	}
	if r := synproxy.Translate(header.TCP(frame[pkt.L4Offset:pkt.L3Offset+pkt.L3Length]), synproxy.ClientToServer, &sc.d); r != synproxy.OK {
		p.c.sp.translate[r]++
		return p.drop(DropSynProxyMalformed)
	}
	p.c.sp.replays++
	e.Value.flags.set(connTOADone, false) // a replay again carries the TOA option
	return p.forward(cur, id, conntrack.DirOriginal, now)
}

// spResetClient answers a real server's RST to our SYN: the client, which believes the connection
// open, is reset (a RST built from its stored segment, in place) and the connection goes.
func (p *Pipeline) spResetClient(cur *cursor, id uint32, e *conntrack.Entry[connVal]) (Verdict, int) {
	p.c.sp.serverRST++
	h, ok := p.hop(&e.Value, conntrack.DirReply) // read before the connection goes
	if !ok {
		p.neigh.request(uint32(e.Value.neigh[conntrack.DirReply]))
	}
	loaded := ok && p.spLoad(cur, &p.sp.conns[id]) // not over a frame that is dropped anyway
	p.remove(id, e)
	if !ok {
		return p.drop(DropNeighMiss)
	}
	if !loaded {
		return p.drop(DropSynProxyTooBig)
	}
	n, r := synproxy.BuildRST(cur.frame[header.EthernetMinimumSize:])
	if r != synproxy.OK {
		return p.drop(DropSynProxyMalformed)
	}
	cur.rebuilt(header.EthernetMinimumSize + n)
	return p.transmit(cur, h)
}

// spReACK answers a real server's SYN/ACK sent again after the replay (lost on the way): it becomes,
// in place, the ACK that completes the server's handshake, back where it came from.
func (p *Pipeline) spReACK(cur *cursor) (Verdict, int) {
	pkt := &cur.pkt
	n, r := synproxy.BuildACK(cur.buf[cur.off+pkt.L3Offset:], spReACKWindow)
	if r != synproxy.OK {
		p.c.sp.synack[r]++
		return p.drop(DropSynProxySynAck)
	}
	p.c.sp.reacked++
	return p.reflect(cur, n)
}

// spReACKWindow is the window of that ACK: small and unscaled (its true value comes with the
// client's next segment), enough for the server to start.
const spReACKWindow = 1024

// spRelease frees the pending slot of a connection.
func (p *Pipeline) spRelease(sc *spConn) {
	if sc.slot != 0 {
		ps := &p.sp.slots[sc.slot-1]
		p.sp.perSource[ps.bucket]--
		p.sp.free = append(p.sp.free, sc.slot-1)
		sc.slot = 0
	}
}

// sourceBucket is the per-source count of a client address: its /64 for IPv6 (a host's usual
// allocation), the address for IPv4.
func (s *spState) sourceBucket(a *header.Addr) uint16 {
	t := header.Tuple{SrcAddr: *a}
	if !a.Is4() {
		clear(t.SrcAddr[8:])
	}
	return uint16(t.Hash(&s.key) % spSourceBuckets)
}

// spExpired is the expiry of a connection whose real server has not answered our SYN: send it
// again (after 1, 2, 4 s), then reset the client. keep reports whether the connection stays.
func (p *Pipeline) spExpired(id uint32, e *conntrack.Entry[connVal]) (keep bool) {
	sc := &p.sp.conns[id]
	ps := &p.sp.slots[sc.slot-1]
	at := e.Expires()
	if p.sp.gen.n == len(p.sp.gen.f) {
		p.c.sp.deferred++
		return true // next tick
	}
	if ps.tries < spRetries {
		ps.tries++
		p.c.sp.retries++
		p.spGenerate(id, e, false)
		p.table.SetExpires(id, at+spRetryBase<<ps.tries)
		return true
	}
	p.c.sp.timeouts++
	p.spGenerate(id, e, true)
	return false
}

// spGenerate queues the SYN to the real server again (or, with reset, the RST to the client) made
// from connection id's stored segment, in a cursor of its own over a frame of the queue (as if the
// client had sent it: its in-port is the client side's).
func (p *Pipeline) spGenerate(id uint32, e *conntrack.Entry[connVal], reset bool) {
	g := &p.sp.gen.f[p.sp.gen.n]
	v := &e.Value
	cur := &p.cur
	*cur = cursor{buf: g.b[:], off: genHeadroom, in: int(v.out[conntrack.DirReply])}
	if !p.spLoad(cur, &p.sp.conns[id]) { // cannot happen: the frame holds spStoredMax
		return
	}
	if reset {
		n, r := synproxy.BuildRST(cur.frame[header.EthernetMinimumSize:])
		mac, ok := p.neigh.mac(uint32(v.neigh[conntrack.DirReply]))
		if r != synproxy.OK || !ok {
			return
		}
		eth := header.Ethernet(cur.frame)
		eth.SetDestinationAddress(mac)
		eth.SetSourceAddress(p.ports[v.out[conntrack.DirReply]].MAC)
		g.port, g.off, g.n = int(v.out[conntrack.DirReply]), genHeadroom, header.EthernetMinimumSize+n
		p.sp.gen.n++
		return
	}
	n, r := synproxy.BuildSYN(cur.frame[header.EthernetMinimumSize:], &p.sp.slots[p.sp.conns[id].slot-1].h)
	if r != synproxy.OK {
		return
	}
	cur.rebuilt(header.EthernetMinimumSize + n)
	if cur.pkt.Parse(cur.frame) != header.ParseOK {
		return
	}
	if verdict, port := p.forward(cur, id, conntrack.DirOriginal, e.Expires()); verdict == VerdictTX {
		g.port, g.off, g.n = port, cur.outOff, cur.outLen
		p.sp.gen.n++
	}
}

// spCookieACK reports whether the client segment being processed is a cookie ACK of ours (it
// changes nothing, counts nothing).
func (p *Pipeline) spCookieACK(cur *cursor, now int64) bool {
	pkt := &cur.pkt
	if f := pkt.TCPFlags; f&header.TCPFlagAck == 0 || f&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		return false
	}
	_, r := p.cookies.Validate(cur.frame[pkt.L3Offset:pkt.L3Offset+pkt.L3Length], now)
	return r == synproxy.OK
}

// newCookies makes a pipeline's own cookies (the dataplane replaces them with the director's).
func newCookies() *synproxy.Cookies {
	c, err := synproxy.New(synproxy.DefaultConfig())
	if err != nil {
		panic("dataplane: no randomness for the SYN cookie secret: " + err.Error())
	}
	return c
}

// spEvents names the SYN proxy's counters for WorkerStats.Events.
func spEvents(ev []NamedCount, c *spCounters) []NamedCount {
	ev = append(ev,
		NamedCount{Name: "synproxy_syn_answered", Count: c.answered},
		NamedCount{Name: "synproxy_cookie_valid", Count: c.cookie[synproxy.OK]},
		NamedCount{Name: "synproxy_conn_opened", Count: c.opened},
		NamedCount{Name: "synproxy_handshake_done", Count: c.handshakes},
		NamedCount{Name: "synproxy_replayed", Count: c.replays}, NamedCount{Name: "synproxy_reacked", Count: c.reacked},
		NamedCount{Name: "synproxy_data_stored", Count: c.stored},
		NamedCount{Name: "synproxy_syn_retried", Count: c.retries},
		NamedCount{Name: "synproxy_fail_server_rst", Count: c.serverRST},
		NamedCount{Name: "synproxy_fail_server_timeout", Count: c.timeouts},
		NamedCount{Name: "synproxy_timer_deferred", Count: c.deferred})
	for r := synproxy.Result(1); r < synproxy.NumResults; r++ {
		ev = append(ev, NamedCount{Name: "synproxy_syn_" + r.String(), Count: c.answer[r]},
			NamedCount{Name: "synproxy_cookie_" + r.String(), Count: c.cookie[r]},
			NamedCount{Name: "synproxy_synack_" + r.String(), Count: c.synack[r]},
			NamedCount{Name: "synproxy_translate_" + r.String(), Count: c.translate[r]})
	}
	return ev
}

// spQuote translates the sequence number of a TCP header quoted by an ICMP error about a segment
// the director sent to the client of a SYN-proxied connection (dir is DirOriginal: the error goes
// to the real server), so that the server finds its own number in it (Linux ignores an error
// quoting a sequence number it never sent). Quotes of segments toward the server carry the
// client's numbers, which are the same on both legs. The caller recomputes the ICMP checksum.
func (p *Pipeline) spQuote(l4 []byte, id uint32, v *connVal, dir conntrack.Dir) {
	if v.sp < spReplayed || dir != conntrack.DirOriginal || len(l4) < 8 { // (SYN-proxied: TCP)
		return
	}
	q := header.TCP(l4) // its first 8 bytes
	q.SetSequenceNumber(q.SequenceNumber() + uint32(p.sp.conns[id].d.Seq))
}

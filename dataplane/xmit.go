package dataplane

import (
	"encoding/binary"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// The path of a packet, read from RX to TX:
//
//	ProcessAt   fills the cursor: the buffer, where the packet lies, the port it came in on
//	process     parses it (cursor.pkt) and classifies it: a connection's, an ICMP error (icmpError), or a miss
//	miss        hands it to its owner, or answers a SYN-proxied SYN, or opens a connection (open binds its xmit)
//	forward     next hop, TCP state, expiry, then the connection's bound transmit function:
//	xmitFuncs   xmitDR, xmitTunnel, xmitNAT, xmitFullNAT or xmitNAT64: the rewrite, then send
//	send        the MACs, the connection's counters, and the egress port
//
// Every function on the way receives the cursor; none keeps it.

// cursor is the packet being processed. The packet lies at buf[off:off+len(frame)] (frame), as
// received or as the SYN proxy rebuilt it in place, and pkt holds its parsed headers, offsets into
// frame. The bytes before off are headroom a tunnel header, an IPv6 header (NAT64) or an ICMP error
// may take; those after frame, up to len(buf), tailroom the TOA option may take. A rewrite that
// moves or resizes the packet says where it now lies in outOff and outLen (out), at first frame's.
type cursor struct {
	buf            []byte
	frame          []byte // the packet: a slice of buf kept rather than made again at each use
	off            int
	outOff, outLen int
	in             int    // the port it came in on
	gathered       bool   // a fragment its gatherer sent on (ProcessGatheredAt): followed, never handed on
	conn           uint32 // the connection's id, from forward to the transmit function
	hashed         bool   // hash is the table's hash of pkt.Tuple (read ahead, or lookup's)
	hash           uint64
	pkt            header.Packet
}

// out is the packet as it leaves.
func (c *cursor) out() []byte { return c.buf[c.outOff : c.outOff+c.outLen] }

// rebuilt records that the packet at off was replaced, in place, by one of n bytes (whose tuple's
// hash is not known).
func (c *cursor) rebuilt(n int) {
	c.frame, c.outOff, c.outLen, c.hashed = c.buf[c.off:c.off+n], c.off, n, false
}

// xmitKind names a connection's transmit function, bound once when the connection opens (as IPVS
// binds cp->packet_xmit) from its real server's forwarding method and address family: an index into
// xmitFuncs, stored in the connection's record.
type xmitKind uint8

const (
	xmitDR      xmitKind = iota // direct routing: only the MACs change
	xmitTunnel                  // IPIP or IPv6-in-IPv6 to the real server
	xmitNAT                     // NAT: the side facing the director is rewritten
	xmitFullNAT                 // FULLNAT, one family: both sides rewritten, TOA and MSS for TCP
	xmitNAT64                   // FULLNAT from an IPv6 VIP to an IPv4 real server: translated between families
	numXmit
)

// bindXmit returns the transmit function of a connection to a real server of method m, whose
// address family is (sameFamily) or is not the client's.
func bindXmit(m ForwardMethod, sameFamily bool) xmitKind {
	switch m {
	case ForwardTunnel:
		return xmitTunnel
	case ForwardMasq:
		return xmitNAT
	case ForwardFullNAT:
		if sameFamily {
			return xmitFullNAT
		}
		return xmitNAT64
	}
	return xmitDR
}

// inputOnly reports whether a connection's replies bypass the director (DR, TUN).
func (k xmitKind) inputOnly() bool { return k == xmitDR || k == xmitTunnel }

// fullNAT reports whether the connection holds a FULLNAT local port.
func (k xmitKind) fullNAT() bool { return k == xmitFullNAT || k == xmitNAT64 }

// xmitFunc transmits a packet of connection e going in direction dir to next hop h: it rewrites the
// packet for the connection's forwarding method and sends it, or drops it (counted).
type xmitFunc func(p *Pipeline, cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int)

// xmitFuncs is indexed by xmitKind. (The cursor escapes through the indirect call: the pipeline
// keeps its storage, Pipeline.cur.)
var xmitFuncs = [numXmit]xmitFunc{
	xmitDR:      (*Pipeline).xmitDR,
	xmitTunnel:  (*Pipeline).xmitTunnel,
	xmitNAT:     (*Pipeline).xmitNAT,
	xmitFullNAT: (*Pipeline).xmitFullNAT,
	xmitNAT64:   (*Pipeline).xmitNAT64,
}

// xmitDR sends the packet as it is to the real server's MAC (the real server holds the VIP).
func (p *Pipeline) xmitDR(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	return p.send(cur, e, dir, h)
}

// xmitTunnel puts the packet in the connection's tunnel to the real server (tunnel) and sends it.
func (p *Pipeline) xmitTunnel(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	if v, port, ok := p.tunnel(cur, e, h); !ok {
		return v, port
	}
	return p.send(cur, e, dir, h)
}

// xmitNAT gives the packet the addresses and ports of the reverse of the connection's other tuple:
// the real server's for a client's packet, the VIP's for a reply.
func (p *Pipeline) xmitNAT(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	rewriteL3L4(cur.frame, &cur.pkt, &e.Tuples[dir^1])
	return p.send(cur, e, dir, h)
}

// xmitFullNAT rewrites both sides as xmitNAT does (the other tuple holds LIP:lport), and lowers the
// MSS or inserts the TOA option of a TCP segment (fullnatTCP), or the PROXY protocol header
// (fullnatL4).
func (p *Pipeline) xmitFullNAT(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	if cur.pkt.Fragment && e.Value.flags.has(connPP) {
		return p.drop(DropFragUnsupported) // a PROXY header would change the datagram's length
	}
	if cur.pkt.Fragment { // no TOA and no PROXY header in a fragment: its length is the datagram's
		rewriteL3L4(cur.frame, &cur.pkt, &e.Tuples[dir^1])
		return p.send(cur, e, dir, h)
	}
	insert, ok := p.ppBefore(cur, e, dir)
	if !ok {
		return p.drop(DropProxyProto)
	}
	rewriteL3L4(cur.frame, &cur.pkt, &e.Tuples[dir^1])
	p.fullnatL4(cur, e, dir, insert)
	return p.send(cur, e, dir, h)
}

// xmitNAT64 is xmitFullNAT between families: the IP header is translated (translate).
func (p *Pipeline) xmitNAT64(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	if cur.pkt.Fragment && e.Value.flags.has(connPP) {
		return p.drop(DropFragUnsupported) // a PROXY header would change the datagram's length
	}
	if cur.pkt.Fragment {
		return p.nat64Fragment(cur, e, dir, h)
	}
	insert, ok := p.ppBefore(cur, e, dir)
	if !ok {
		return p.drop(DropProxyProto)
	}
	if !p.translate(cur, &e.Tuples[dir^1]) {
		return p.drop(DropNoHeadroom)
	}
	p.fullnatL4(cur, e, dir, insert)
	return p.send(cur, e, dir, h)
}

// hop is where a packet goes next: the egress port and the next hop's MAC, packed in a word as
// the neighbour table holds it (packMAC). Two words, so it travels in registers: a MAC as six
// bytes went through the stack, byte by byte, and its copies stalled on store forwarding (a
// sixth of a hot hit's samples).
type hop struct {
	port int
	mac  uint64
}

// hopTo is the hop to mac out of port.
func hopTo(port int, mac header.MAC) hop { return hop{port: port, mac: packMAC(mac, true)} }

// dstMAC is the next hop's MAC.
func (h hop) dstMAC() header.MAC { return unpackMAC(h.mac) }

// address writes the next hop's MAC as the frame's destination.
func (h hop) address(eth header.Ethernet) {
	_ = eth[5]
	binary.BigEndian.PutUint16(eth[0:], uint16(h.mac>>32))
	binary.BigEndian.PutUint32(eth[2:], uint32(h.mac))
}

// hop returns the next hop of connection v's packets in direction dir; ok is false while its MAC
// is not resolved (see neighMiss).
func (p *Pipeline) hop(v *connVal, dir conntrack.Dir) (h hop, ok bool) {
	h.mac, ok = p.neigh.packedMAC(uint32(v.neigh[dir]))
	h.port = int(v.out[dir])
	return h, ok
}

// neighMiss drops a packet whose next hop (hop) is not resolved, and asks the resolver for it.
func (p *Pipeline) neighMiss(v *connVal, dir conntrack.Dir) (Verdict, int) {
	p.neigh.request(uint32(v.neigh[dir]))
	return p.drop(DropNeighMiss)
}

// send transmits a packet of connection e going in direction dir (transmit) and counts it for the
// connection's service and real server.
func (p *Pipeline) send(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	v := &e.Value
	// A real-server id belongs to one service (destKeyFull holds it), so a current generation
	// means the connection's service is current too. Otherwise count neither: the ids may name
	// another service and real server now (IPVS likewise stops counting a connection whose
	// destination is gone).
	if p.c.destGen[v.destID] == v.destGen {
		n := uint64(cur.pkt.L3Length)
		sc, dc := &p.c.svc[v.svcID], &p.c.dest[v.destID]
		if dir == conntrack.DirOriginal {
			sc.InPkts++
			sc.InBytes += n
			dc.InPkts++
			dc.InBytes += n
		} else {
			sc.OutPkts++
			sc.OutBytes += n
			dc.OutPkts++
			dc.OutBytes += n
		}
	}
	return p.transmit(cur, h)
}

// transmit addresses the packet to the next hop h from its egress port, and counts it sent.
func (p *Pipeline) transmit(cur *cursor, h hop) (Verdict, int) {
	eth := header.Ethernet(cur.out())
	h.address(eth)
	eth.SetSourceAddress(p.ports[h.port].MAC)
	p.c.tx++
	return VerdictTX, h.port
}

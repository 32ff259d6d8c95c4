package dataplane

import (
	"fmt"

	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
	"github.com/xdpvs/xdpvs/proxyproto"
	"github.com/xdpvs/xdpvs/synproxy"
)

// The PROXY protocol of --proxy-protocol services (package proxyproto has the header and its
// insertion; synproxy.Insertion the sequence numbers it shifts).
//
// TCP: the header goes into the client's first data segment (the one at the client's ISN + 1),
// in front of its data, and into that segment again whenever the client retransmits it, the same
// bytes each time, so that the real server's stream is the header then the client's. The
// client's later sequence numbers are the header's length more toward the server, and the
// server's acknowledgments and SACK edges that much less toward the client, for the connection's
// life. The real server's SYN/ACK leaves with its MSS lowered by the header's length (instead of
// TOA's, which such a connection does not carry), so that a full-sized first segment still fits
// the MTU with the header; one that does not is dropped (proxy_protocol) and the client, never
// acknowledged, sends it again. As with DPVS, a protocol where the server speaks first waits:
// the header, and so the server, waits for the client's first byte.
//
// UDP (v2 only, as DPVS): the header goes in front of the first datagram of a flow. A datagram
// too big to take it is dropped, and the flow's next datagram carries it.

// ppConn is what a connection with a PROXY protocol header keeps beside the table, by id.
type ppConn struct {
	at uint32 // TCP: the client's ISN + 1, where the header goes (from the client's SYN)
	n  uint8  // the header's length
	v  proxyproto.Version
}

// ppOpen marks new connection id (e) to carry a header of version v.
func (p *Pipeline) ppOpen(id uint32, e *conntrack.Entry[connVal], v proxyproto.Version) {
	e.Value.flags.set(connPP, true)
	p.pp[id] = ppConn{n: uint8(p.ppEncode(e, v)), v: v}
}

// ppEncode writes the header of connection e into p.ppBuf and returns its length.
func (p *Pipeline) ppEncode(e *conntrack.Entry[connVal], v proxyproto.Version) int {
	c := &e.Tuples[conntrack.DirOriginal]
	return proxyproto.Encode(p.ppBuf[:], v, c.Proto, c.SrcAddr, c.DstAddr, c.SrcPort, c.DstPort)
}

// ppBefore decides, before the packet of connection e going in direction dir is rewritten, what
// its PROXY protocol header asks (insert: put the header in front of its payload) and whether it
// can be done; when not (ok false: too big for the MTU or the buffer, an option list the
// translation cannot walk), the packet is dropped as it came (proxy_protocol). It writes nothing
// into the packet; it notes where a TCP client's stream starts (its SYN).
func (p *Pipeline) ppBefore(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir) (insert, ok bool) {
	if !e.Value.flags.has(connPP) {
		return false, true
	}
	pkt := &cur.pkt
	pc := &p.pp[cur.conn]
	if pkt.Proto == header.ProtocolTCP {
		seg := header.TCP(cur.frame[pkt.L4Offset : pkt.L3Offset+pkt.L3Length])
		sdir := synproxy.ClientToServer
		switch {
		case dir == conntrack.DirReply:
			sdir = synproxy.ServerToClient
		case pkt.TCPFlags&header.TCPFlagSyn != 0:
			if !e.Value.flags.has(connPPSent) { // once the header is out, where it went is settled
				pc.at = seg.SequenceNumber() + 1 // the client's SYN (or SYN again): where its stream starts
			}
		default:
			insert = pkt.L3Offset+pkt.L3Length > pkt.PayloadOffset && seg.SequenceNumber() == pc.at && pkt.TCPFlags&header.TCPFlagRst == 0
		}
		if !synproxy.CanTranslateInsertion(seg, sdir) {
			p.c.pp[proxyproto.Malformed]++
			return false, false
		}
	} else {
		insert = dir == conntrack.DirOriginal && !e.Value.flags.has(connPPSent)
	}
	if !insert {
		return false, true
	}
	// The packet as it will leave: NAT64 replaces the IPv6 header (and its extensions) with a
	// 20-byte IPv4 one; the transport header stays where it is, so the packet ends where it ends.
	outIP := pkt.L3Length
	if e.Value.xmit == xmitNAT64 {
		outIP += header.IPv4MinimumSize - (pkt.L4Offset - pkt.L3Offset)
	}
	n := int(pc.n)
	switch {
	case outIP+n > p.ports[e.Value.out[conntrack.DirOriginal]].mtu():
		p.c.pp[proxyproto.ExceedsMTU]++
		return false, false
	case cur.off+pkt.L3Offset+pkt.L3Length+n > len(cur.buf):
		p.c.pp[proxyproto.NoTailroom]++
		return false, false
	}
	return true, true
}

// fullnatL4 does what FULLNAT adds to a rewritten segment or datagram: TOA and the MSS
// (fullnatTCP), or what its PROXY protocol header asks (ppAfter, after ppBefore said insert).
func (p *Pipeline) fullnatL4(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, insert bool) {
	switch {
	case e.Value.flags.has(connPP):
		p.ppAfter(cur, e, dir, insert)
	case cur.pkt.Proto == header.ProtocolTCP:
		p.fullnatTCP(cur, e, dir)
	}
}

// ppAfter inserts the header (insert), lowers the real server's SYN/ACK's MSS by its length, and
// shifts a TCP segment's numbers (synproxy.Insertion), in the rewritten packet.
func (p *Pipeline) ppAfter(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, insert bool) {
	pkt := &cur.pkt
	pc := &p.pp[cur.conn]
	if insert {
		p.ppInsert(cur, e)
		if e.Value.flags.has(connPPSent) && pkt.Proto == header.ProtocolTCP {
			p.c.ppResent++
		}
		e.Value.flags.set(connPPSent, true)
	}
	if pkt.Proto != header.ProtocolTCP || pkt.TCPFlags&header.TCPFlagSyn != 0 && dir == conntrack.DirOriginal {
		return
	}
	// Where the segment lies now (moved on in the buffer by the header, if inserted).
	seg := header.TCP(cur.buf[cur.off+pkt.L4Offset : cur.outOff+cur.outLen])
	in := synproxy.Insertion{At: synproxy.Value(pc.at), N: synproxy.Size(pc.n)}
	if dir == conntrack.DirOriginal {
		synproxy.TranslateInsertion(seg, synproxy.ClientToServer, &in)
		return
	}
	synproxy.TranslateInsertion(seg, synproxy.ServerToClient, &in) // ppBefore checked that it can
	if pkt.TCPFlags&(header.TCPFlagSyn|header.TCPFlagAck) == header.TCPFlagSyn|header.TCPFlagAck {
		if mss, ok := seg.MSS(); ok && mss > uint16(pc.n)+64 {
			seg.SetMSSWithChecksumUpdate(mss - uint16(pc.n))
		} else {
			p.c.mssNotLowered++
		}
	}
}

// ppInsert puts connection e's header in front of the payload of the packet as it leaves (ppBefore
// made sure it fits).
func (p *Pipeline) ppInsert(cur *cursor, e *conntrack.Entry[connVal]) {
	pc := &p.pp[cur.conn]
	n := p.ppEncode(e, pc.v)
	ip := cur.buf[cur.outOff+header.EthernetMinimumSize:]
	server := &e.Tuples[conntrack.DirReply]
	l, r := proxyproto.Insert(ip, cur.outLen-header.EthernetMinimumSize, !server.SrcAddr.Is4(), p.ppBuf[:n], 0)
	p.c.pp[r]++
	if r == proxyproto.OK {
		cur.outLen = l + header.EthernetMinimumSize
	}
}

// checkProxyProtocol sets si.pp from spec's --proxy-protocol, or says why it cannot have it.
func checkProxyProtocol(si *svcInfo, spec *Service) error {
	switch spec.ProxyProtocol {
	case ProxyProtocolOff:
		return nil
	case ProxyProtocolV1:
		if spec.Key.Proto != header.ProtocolTCP {
			return fmt.Errorf("dataplane: service %v:%d: PROXY protocol v1 is for TCP services (v2 for UDP)", spec.Key.Addr, spec.Key.Port)
		}
		si.pp = proxyproto.V1
	case ProxyProtocolV2:
		si.pp = proxyproto.V2
	default:
		return fmt.Errorf("dataplane: service %v:%d: PROXY protocol version %d: %w", spec.Key.Addr, spec.Key.Port, spec.ProxyProtocol, ErrNotSupported)
	}
	return nil
}

// ppQuote translates the sequence number of a TCP header quoted by an ICMP error going to the
// client (dir DirReply) about a client segment the director sent on with its numbers shifted by the
// PROXY protocol header, back to the client's, so that the client's TCP finds its own segment
// (Linux ignores an error quoting a number it never sent: PMTU discovery would fail). The caller
// recomputes the ICMP checksum.
func (p *Pipeline) ppQuote(l4 []byte, id uint32, v *connVal, dir conntrack.Dir) {
	if !v.flags.has(connPP) || dir != conntrack.DirReply || len(l4) < 8 {
		return
	}
	pc := &p.pp[id]
	in := synproxy.Insertion{At: synproxy.Value(pc.at), N: synproxy.Size(pc.n)}
	q := header.TCP(l4) // its first 8 bytes
	q.SetSequenceNumber(in.Unshift(q.SequenceNumber()))
}

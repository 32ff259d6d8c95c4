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

// fullnatL4 does what FULLNAT adds to a rewritten segment or datagram: TOA and the MSS
// (fullnatTCP), or the PROXY protocol header and its sequence shift. It reports false when the
// packet must be dropped (proxy_protocol).
func (p *Pipeline) fullnatL4(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir) bool {
	pp := e.Value.flags.has(connPP)
	switch {
	case cur.pkt.Proto == header.ProtocolTCP && pp:
		return p.ppTCP(cur, e, dir)
	case cur.pkt.Proto == header.ProtocolTCP:
		p.fullnatTCP(cur, e, dir)
	case pp && dir == conntrack.DirOriginal && !e.Value.flags.has(connPPSent):
		if !p.ppInsert(cur, e) {
			return false
		}
		e.Value.flags.set(connPPSent, true)
	}
	return true
}

// ppTCP handles a TCP segment of a connection with a PROXY protocol header.
func (p *Pipeline) ppTCP(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir) bool {
	pkt := &cur.pkt
	pc := &p.pp[cur.conn]
	seg := header.TCP(cur.buf[cur.off+pkt.L4Offset : cur.outOff+cur.outLen])
	flags := pkt.TCPFlags
	if dir == conntrack.DirOriginal && flags&header.TCPFlagSyn != 0 {
		pc.at = seg.SequenceNumber() + 1 // the client's SYN (or SYN again): where its stream starts
		return true
	}
	if dir == conntrack.DirReply && flags&(header.TCPFlagSyn|header.TCPFlagAck) == header.TCPFlagSyn|header.TCPFlagAck {
		if mss, ok := seg.MSS(); ok && mss > uint16(pc.n)+64 {
			seg.SetMSSWithChecksumUpdate(mss - uint16(pc.n))
		} else {
			p.c.mssNotLowered++
		}
	}
	in := synproxy.Insertion{At: synproxy.Value(pc.at), N: synproxy.Size(pc.n)}
	if dir == conntrack.DirReply {
		return synproxy.TranslateInsertion(seg, synproxy.ServerToClient, &in) == synproxy.OK
	}
	if pkt.L3Offset+pkt.L3Length > pkt.PayloadOffset && seg.SequenceNumber() == pc.at && flags&header.TCPFlagRst == 0 {
		if !p.ppInsert(cur, e) {
			return false
		}
		if e.Value.flags.has(connPPSent) {
			p.c.ppResent++
		}
		e.Value.flags.set(connPPSent, true)
		// The segment moved on in the buffer: the TCP header is where it was.
		seg = header.TCP(cur.buf[cur.off+pkt.L4Offset : cur.outOff+cur.outLen])
	}
	return synproxy.TranslateInsertion(seg, synproxy.ClientToServer, &in) == synproxy.OK
}

// ppInsert puts connection e's header in front of the payload of the packet as it leaves.
func (p *Pipeline) ppInsert(cur *cursor, e *conntrack.Entry[connVal]) bool {
	pc := &p.pp[cur.conn]
	n := p.ppEncode(e, pc.v)
	ip := cur.buf[cur.outOff+header.EthernetMinimumSize:]
	server := &e.Tuples[conntrack.DirReply]
	l, r := proxyproto.Insert(ip, cur.outLen-header.EthernetMinimumSize, !server.SrcAddr.Is4(), p.ppBuf[:n],
		p.ports[e.Value.out[conntrack.DirOriginal]].mtu())
	p.c.pp[r]++
	if r != proxyproto.OK {
		return false
	}
	cur.outLen = l + header.EthernetMinimumSize
	return true
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
	if si.synproxy {
		return fmt.Errorf("dataplane: service %v:%d: the PROXY protocol and the SYN proxy (-j) together are not supported", spec.Key.Addr, spec.Key.Port)
	}
	return nil
}

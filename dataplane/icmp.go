package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// icmpError translates an ICMP or ICMPv6 error that quotes a connection's packet and sends it to
// the other side, as IPVS's ip_vs_nat_icmp does (FULLNAT translates both outer addresses; DR and
// TUN leave the packet alone):
//
//   - from the client side, quoting a reply we sent (VIP:vport → CIP:cport): it travels like a
//     packet of the original direction; the outer destination becomes the real server and the quote
//     becomes what the real server sent (RIP:rport → CIP:cport);
//   - from the real-server side, quoting a request we forwarded (CIP:cport → RIP:rport): it travels
//     like a reply; the outer source becomes the VIP and the quote what the client sent
//     (CIP:cport → VIP:vport).
//
// A fragmentation-needed or packet-too-big message keeps its MTU, which holds end to end.
func (p *Pipeline) icmpError(cur *cursor) (Verdict, int) {
	pkt := &cur.pkt
	inner, il3, il4, ok := pkt.ParseICMPError(cur.frame)
	if !ok || (inner.Proto != header.ProtocolTCP && inner.Proto != header.ProtocolUDP) {
		return p.drop(DropICMPNoConn)
	}
	if inner.SrcAddr.Is4() != !pkt.IsIPv6 || inner.DstAddr.Is4() != !pkt.IsIPv6 { // NAT64 quotes are of the error's family too
		return p.drop(DropMappedAddr) // a quote of the other family, or with mapped addresses
	}
	k := inner.Reverse()
	id, dir, ok := p.table.Lookup(&k)
	if !ok {
		if p.workers > 1 {
			c := p.conf
			o := -1
			switch {
			case c.isSvcSource(&inner):
				o = owner(&inner.DstAddr, inner.DstPort, p.workers)
			case c.isLocal(&inner.SrcAddr): // FULLNAT: quoting LIP:lport → RIP:rport
				o = localOwner(inner.SrcPort, p.workers)
			case c.isReply(inner.Proto, &inner.DstAddr, inner.DstPort):
				o = owner(&inner.SrcAddr, inner.SrcPort, p.workers)
			}
			if o >= 0 && o != p.id {
				p.c.handoffOut++
				return VerdictHandoff, o
			}
		}
		return p.drop(DropICMPNoConn)
	}
	e := p.table.Entry(id)
	v := &e.Value
	if v.xmit == xmitNAT64 {
		return p.icmpTranslate(cur, id, e, dir, il4)
	}
	h, ok := p.hop(v, dir)
	if !ok {
		return p.neighMiss(v, dir)
	}
	switch v.xmit {
	case xmitTunnel:
		// As DR, but in the tunnel like every packet of the connection. One too big for it is
		// dropped: an ICMP error is never answered with another (RFC 1122 3.2.2, RFC 4443 2.4).
		if pkt.L3Length > p.tunnelMTU(cur, h.port) {
			return p.drop(DropTooBig)
		}
		if v, port, ok := p.tunnel(cur, e, h); !ok {
			return v, port
		}
	case xmitDR:
		// DR: the quoted packet is what the real server itself sent (VIP:vport → CIP:cport), and
		// the error goes to it as any packet of the connection does, only the MAC changed.
	default:
		p.icmpNAT(cur, id, e, dir, il3, il4)
	}
	return p.transmit(cur, h)
}

// icmpNAT rewrites, in place, an ICMP error of a NAT or FULLNAT connection travelling in direction
// dir: the outer addresses, and the quote, which becomes what the other side sent (before our
// rewrite). The quote starts at offset il3 of the frame, its transport header at il4.
func (p *Pipeline) icmpNAT(cur *cursor, id uint32, e *conntrack.Entry[connVal], dir conntrack.Dir, il3, il4 int) {
	pkt, frame, v := &cur.pkt, cur.frame, &e.Value
	quote := &e.Tuples[dir^1] // what the other side sent, before our rewrite
	end := pkt.L3Offset + pkt.L3Length
	// NAT changes the side facing the director (as IPVS); FULLNAT both, the outer packet then goes
	// from LIP to the real server, or from the VIP to the client.
	toServer := dir == conntrack.DirOriginal || v.xmit == xmitFullNAT
	toClient := dir == conntrack.DirReply || v.xmit == xmitFullNAT
	if pkt.IsIPv6 {
		ip := header.IPv6(frame[pkt.L3Offset:])
		if toServer {
			ip.SetDestinationAddress(quote.SrcAddr[:])
		}
		if toClient {
			ip.SetSourceAddress(quote.DstAddr[:])
		}
		qip := header.IPv6(frame[il3:])
		qip.SetSourceAddress(quote.SrcAddr[:])
		qip.SetDestinationAddress(quote.DstAddr[:])
		setPorts(frame[il4:], quote)
		p.spQuote(frame[il4:end], id, v, dir)
		p.ppQuote(frame[il4:end], id, v, dir)
		icmp := header.ICMPv6(frame[pkt.L4Offset:end])
		icmp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(icmp))))
		return
	}
	ip := header.IPv4(frame[pkt.L3Offset:])
	if toServer {
		ip.SetDestinationAddressWithChecksumUpdate(quote.SrcAddr[12:])
	}
	if toClient {
		ip.SetSourceAddressWithChecksumUpdate(quote.DstAddr[12:])
	}
	qip := header.IPv4(frame[il3:])
	qip.SetSourceAddress(quote.SrcAddr[12:])
	qip.SetDestinationAddress(quote.DstAddr[12:])
	qip.FillChecksum()
	setPorts(frame[il4:], quote)
	p.spQuote(frame[il4:end], id, v, dir)
	p.ppQuote(frame[il4:end], id, v, dir)
	header.ICMPv4(frame[pkt.L4Offset:end]).FillChecksum()
}

// setPorts writes a quoted TCP or UDP header's ports (its first 4 bytes, always quoted; at the same
// place in both).
func setPorts(l4 []byte, t *header.Tuple) {
	q := header.UDP(l4)
	q.SetSourcePort(t.SrcPort)
	q.SetDestinationPort(t.DstPort)
}

// isSvcSource reports whether a quoted packet came from a service (a reply we sent as VIP:vport).
func (c *compiled) isSvcSource(q *header.Tuple) bool {
	_, ok := c.lookupService(q.Proto, &q.SrcAddr, q.SrcPort)
	return ok
}

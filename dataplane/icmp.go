package dataplane

import (
	"encoding/binary"

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
func (p *Pipeline) icmpError(frame []byte) (Verdict, int) {
	pkt := &p.pkt
	inner, il3, il4, ok := pkt.ParseICMPError(frame)
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
	if e.Tuples[0].SrcAddr.Is4() != e.Tuples[1].SrcAddr.Is4() {
		return p.icmpTranslate(frame, id, e, dir, il4)
	}
	mac, ok := p.neigh.mac(uint32(v.neigh[dir]))
	if !ok {
		p.neigh.request(uint32(v.neigh[dir]))
		return p.drop(DropNeighMiss)
	}
	quote := &e.Tuples[dir^1] // what the other side sent, before our rewrite
	end := pkt.L3Offset + pkt.L3Length
	out := int(v.out[dir])
	switch {
	case v.method == ForwardTunnel:
		// As DR, but in the tunnel like every packet of the connection.
		if verdict, port, ok := p.encapsulate(frame, &e.Tuples[conntrack.DirReply].SrcAddr, out); !ok {
			return verdict, port
		}
		frame = p.buf[p.outOff : p.outOff+p.outLen]
	case v.method == ForwardRoute:
		// DR: the quoted packet is what the real server itself sent (VIP:vport → CIP:cport), and
		// the error goes to it as any packet of the connection does, only the MAC changed.
	case pkt.IsIPv6:
		ip := header.IPv6(frame[pkt.L3Offset:])
		if dir == conntrack.DirOriginal || v.method == ForwardFullNAT {
			ip.SetDestinationAddress(quote.SrcAddr[:])
		}
		if dir == conntrack.DirReply || v.method == ForwardFullNAT {
			ip.SetSourceAddress(quote.DstAddr[:])
		}
		qip := header.IPv6(frame[il3:])
		qip.SetSourceAddress(quote.SrcAddr[:])
		qip.SetDestinationAddress(quote.DstAddr[:])
		setPorts(frame[il4:], quote)
		p.spQuote(frame[il4:end], id, v, dir)
		icmp := header.ICMPv6(frame[pkt.L4Offset:end])
		icmp.SetChecksum(0)
		icmp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(icmp))))
	default:
		ip := header.IPv4(frame[pkt.L3Offset:])
		// NAT changes the side facing the director (as IPVS); FULLNAT both, the outer packet then
		// goes from LIP to the real server, or from the VIP to the client.
		if dir == conntrack.DirOriginal || v.method == ForwardFullNAT {
			ip.SetDestinationAddressWithChecksumUpdate(quote.SrcAddr[12:])
		}
		if dir == conntrack.DirReply || v.method == ForwardFullNAT {
			ip.SetSourceAddressWithChecksumUpdate(quote.DstAddr[12:])
		}
		qip := header.IPv4(frame[il3:])
		qip.SetSourceAddress(quote.SrcAddr[12:])
		qip.SetDestinationAddress(quote.DstAddr[12:])
		qip.FillChecksum()
		setPorts(frame[il4:], quote)
		p.spQuote(frame[il4:end], id, v, dir)
		icmp := header.ICMPv4(frame[pkt.L4Offset:end])
		icmp.SetChecksum(0)
		icmp.FillChecksum()
	}
	eth := header.Ethernet(frame)
	eth.SetDestinationAddress(mac)
	eth.SetSourceAddress(p.ports[out].MAC)
	p.c.tx++
	return VerdictTX, out
}

// setPorts writes a quoted TCP/UDP header's ports (its first 4 bytes, always quoted).
func setPorts(l4 []byte, t *header.Tuple) {
	binary.BigEndian.PutUint16(l4[0:], t.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], t.DstPort)
}

// isSvcSource reports whether a quoted packet came from a service (a reply we sent as VIP:vport).
func (c *compiled) isSvcSource(q *header.Tuple) bool {
	_, ok := c.lookupService(q.Proto, &q.SrcAddr, q.SrcPort)
	return ok
}

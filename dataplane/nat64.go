package dataplane

import "github.com/xdpvs/xdpvs/header"

// translate moves the TCP or UDP packet to the other address family
// for a NAT64 connection (FULLNAT from an IPv6 VIP to IPv4 real servers), with the addresses and
// ports of the reverse of other, mapping the header fields as RFC 7915 does: traffic class and TOS,
// hop limit and TTL, payload and total length; IPv6 extension headers and IPv4 options are not
// carried over, DF is set on the IPv4 side. The transport header stays in place and the IP header
// is rewritten in front of it: IPv6 → IPv4 shrinks into the old header, IPv4 → IPv6 grows into the
// headroom. The transport checksum is recomputed (its pseudo header changes family). It reports
// false when there is no headroom.
func (p *Pipeline) translate(cur *cursor, other *header.Tuple) bool {
	pkt := &cur.pkt
	frame := cur.frame
	l4 := frame[pkt.L4Offset : pkt.L3Offset+pkt.L3Length]
	var src, dst []byte
	if pkt.IsIPv6 {
		in := header.IPv6(frame[pkt.L3Offset:])
		tc, hopLimit := in.TrafficClass(), in.HopLimit()
		start := cur.off + pkt.L4Offset - header.IPv4MinimumSize - header.EthernetMinimumSize
		b := cur.buf[start : cur.off+pkt.L3Offset+pkt.L3Length]
		header.Ethernet(b).SetType(header.EtherTypeIPv4)
		ip := header.IPv4(b[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv4Fields{TOS: tc, TotalLength: uint16(header.IPv4MinimumSize + len(l4)), Flags: header.IPv4FlagDontFragment,
			TTL: hopLimit, Protocol: pkt.Proto, SrcAddr: other.DstAddr[12:], DstAddr: other.SrcAddr[12:]})
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
		cur.outOff, cur.outLen = start, len(b)
	} else {
		in := header.IPv4(frame[pkt.L3Offset:])
		tos, ttl := in.TOS(), in.TTL()
		start := cur.off + pkt.L4Offset - header.IPv6MinimumSize - header.EthernetMinimumSize
		if start < 0 {
			return false
		}
		b := cur.buf[start : cur.off+pkt.L3Offset+pkt.L3Length]
		header.Ethernet(b).SetType(header.EtherTypeIPv6)
		ip := header.IPv6(b[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv6Fields{TrafficClass: tos, PayloadLength: uint16(len(l4)), NextHeader: pkt.Proto, HopLimit: ttl,
			SrcAddr: other.DstAddr[:], DstAddr: other.SrcAddr[:]})
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
		cur.outOff, cur.outLen = start, len(b)
	}
	if pkt.Proto == header.ProtocolTCP {
		tcp := header.TCP(l4)
		tcp.SetSourcePort(other.DstPort)
		tcp.SetDestinationPort(other.SrcPort)
		tcp.FillChecksum(header.PseudoHeaderChecksum(pkt.Proto, src, dst, uint16(len(l4))))
	} else {
		// The checksum covers the datagram, which may end before the IP payload (Parse checked
		// its length).
		udp := header.UDP(l4[:header.UDP(l4).Length()])
		udp.SetSourcePort(other.DstPort)
		udp.SetDestinationPort(other.SrcPort)
		udp.FillChecksum(header.PseudoHeaderChecksum(pkt.Proto, src, dst, uint16(len(udp))))
	}
	p.c.translated++
	return true
}

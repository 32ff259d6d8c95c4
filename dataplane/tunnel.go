package dataplane

import "github.com/xdpvs/xdpvs/header"

// Sizes of what a tunnel adds.
const (
	ipipOverhead = header.IPv4MinimumSize // IPIP: an IPv4 header
	ip6Overhead  = header.IPv6MinimumSize // IPv6-in-IPv6: an IPv6 header
)

// encapsulate puts the packet in frame (the current packet, at p.off in p.buf) in an IPIP or
// IPv6-in-IPv6 tunnel to rip, out of port out, as IPVS's TUN mode does (ip_vs_tunnel_xmit): the
// outer header takes the headroom before the packet, its source is the port's own address, DF is
// the inner packet's. The Ethernet header is written without MACs; the caller sets them.
//
// When the tunnelled packet would exceed the port's MTU, the client is sent an ICMP
// fragmentation-needed (IPv4, DF set) or packet-too-big (IPv6) error with the MTU less the tunnel
// header, and ok is false with that verdict (IPv4 without DF is dropped: we do not fragment).
func (p *Pipeline) encapsulate(frame []byte, rip *header.Addr, out int) (v Verdict, port int, ok bool) {
	pkt := &p.pkt
	port0 := &p.ports[out]
	inner := frame[pkt.L3Offset : pkt.L3Offset+pkt.L3Length]
	hdr, mtu := ipipOverhead, port0.mtu()
	if pkt.IsIPv6 {
		hdr = ip6Overhead
	}
	if len(inner)+hdr > mtu {
		v, port = p.tooBig(frame, mtu-hdr)
		return v, port, false
	}
	start := p.off + pkt.L3Offset - hdr - header.EthernetMinimumSize
	if start < 0 {
		v, port = p.drop(DropNoHeadroom)
		return v, port, false
	}
	b := p.buf[start : p.off+pkt.L3Offset+len(inner)]
	eth := header.Ethernet(b)
	if pkt.IsIPv6 {
		eth.SetType(header.EtherTypeIPv6)
		// The inner traffic class, no flow label.
		header.IPv6(b[header.EthernetMinimumSize:]).Encode(&header.IPv6Fields{TrafficClass: header.IPv6(inner).TrafficClass(),
			PayloadLength: uint16(len(inner)), NextHeader: header.ProtocolIPv6, HopLimit: 64, SrcAddr: port0.Addr6[:], DstAddr: rip[:]})
	} else {
		eth.SetType(header.EtherTypeIPv4)
		in4 := header.IPv4(inner)
		header.IPv4(b[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{TOS: in4.TOS(), TotalLength: uint16(len(inner) + hdr),
			Flags: in4.Flags() & header.IPv4FlagDontFragment, // DF only
			TTL:   64, Protocol: header.ProtocolIPIP, SrcAddr: port0.Addr4[12:], DstAddr: rip[12:]})
	}
	p.outOff, p.outLen = start, len(b)
	p.c.tunnelled++
	return 0, 0, true
}

// tooBig answers the packet in frame with an ICMP error to its sender saying the path's MTU is
// mtu: fragmentation needed (IPv4, only for DF packets) or packet too big (IPv6). It is built in
// place: new headers in the headroom, then as much of the packet as fits the RFC 1812 / RFC 4443
// limits (576 / 1280 bytes in all). It goes back out of the receiving port to the frame's sender.
func (p *Pipeline) tooBig(frame []byte, mtu int) (Verdict, int) {
	pkt := &p.pkt
	p.c.drops[DropTooBig]++
	var sender header.MAC
	copy(sender[:], frame[6:12])
	in := p.inPort
	quote := pkt.L3Length
	var start int
	if pkt.IsIPv6 {
		const hdr = header.EthernetMinimumSize + header.IPv6MinimumSize + 8
		quote = min(quote, 1280-header.IPv6MinimumSize-8)
		if start = p.off + pkt.L3Offset - hdr; start < 0 {
			return p.drop(DropNoHeadroom)
		}
		b := p.buf[start : start+hdr+quote]
		src, dst := pkt.Tuple.DstAddr, pkt.Tuple.SrcAddr // from the VIP the client talks to
		eth := header.Ethernet(b)
		eth.SetType(header.EtherTypeIPv6)
		header.IPv6(b[header.EthernetMinimumSize:]).Encode(&header.IPv6Fields{PayloadLength: uint16(8 + quote),
			NextHeader: header.ProtocolICMPv6, HopLimit: 64, SrcAddr: src[:], DstAddr: dst[:]})
		icmp := header.ICMPv6(b[header.EthernetMinimumSize+header.IPv6MinimumSize:])
		icmp.Encode(&header.ICMPFields{Type: header.ICMPv6PacketTooBig, Rest: uint32(mtu)})
		icmp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolICMPv6, src[:], dst[:], uint16(8+quote)))
		eth.SetDestinationAddress(sender)
		eth.SetSourceAddress(p.ports[in].MAC)
		p.outOff, p.outLen = start, len(b)
	} else {
		if header.IPv4(frame[pkt.L3Offset:]).Flags()&header.IPv4FlagDontFragment == 0 {
			return p.drop(DropTooBigNoDF)
		}
		const hdr = header.EthernetMinimumSize + header.IPv4MinimumSize + 8
		quote = min(quote, 576-header.IPv4MinimumSize-8)
		if start = p.off + pkt.L3Offset - hdr; start < 0 {
			return p.drop(DropNoHeadroom)
		}
		b := p.buf[start : start+hdr+quote]
		src, dst := pkt.Tuple.DstAddr, pkt.Tuple.SrcAddr
		eth := header.Ethernet(b)
		eth.SetType(header.EtherTypeIPv4)
		header.IPv4(b[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{TOS: 0xc0, // precedence: internetwork control
			TotalLength: uint16(header.IPv4MinimumSize + 8 + quote), TTL: 64, Protocol: header.ProtocolICMP, SrcAddr: src[12:], DstAddr: dst[12:]})
		icmp := header.ICMPv4(b[header.EthernetMinimumSize+header.IPv4MinimumSize:])
		icmp.Encode(&header.ICMPFields{Type: header.ICMPv4DstUnreachable, Code: header.ICMPv4FragmentationNeeded, Rest: uint32(uint16(mtu))})
		icmp.FillChecksum()
		eth.SetDestinationAddress(sender)
		eth.SetSourceAddress(p.ports[in].MAC)
		p.outOff, p.outLen = start, len(b)
	}
	p.c.icmpSent++
	p.c.tx++
	return VerdictTX, in
}

package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// Sizes of what a tunnel adds.
const (
	ipipOverhead = header.IPv4MinimumSize // IPIP: an IPv4 header
	ip6Overhead  = header.IPv6MinimumSize // IPv6-in-IPv6: an IPv6 header
)

// tunnelMTU is the largest IP packet that fits a tunnel out of port out with its outer header.
func (p *Pipeline) tunnelMTU(cur *cursor, out int) int {
	if cur.pkt.IsIPv6 {
		return p.ports[out].mtu() - ip6Overhead
	}
	return p.ports[out].mtu() - ipipOverhead
}

// tunnel puts a packet of connection e in its tunnel to the real server, out of port out: from the
// real server's tunnel source (tunsrc.go), without which it is dropped (never sent from an
// unspecified address); answered with an ICMP error to the client instead if it would not fit the
// port's MTU in the tunnel (tooBig); then encapsulated. ok is false when the packet went another
// way, whose verdict and port are returned.
func (p *Pipeline) tunnel(cur *cursor, e *conntrack.Entry[connVal], out int) (v Verdict, port int, ok bool) {
	src, ok := p.tunSrc.load().source(e.Value.destID, e.Value.destGen, out, cur.pkt.IsIPv6)
	switch mtu := p.tunnelMTU(cur, out); {
	case !ok:
		v, port = p.drop(DropNoTunnelSource)
	case cur.pkt.L3Length > mtu:
		v, port = p.tooBig(cur, mtu)
	case !p.encapsulate(cur, src, &e.Tuples[conntrack.DirReply].SrcAddr):
		v, port = p.drop(DropNoHeadroom)
	default:
		return 0, 0, true
	}
	return v, port, false
}

// encapsulate puts the packet in an IPIP or IPv6-in-IPv6 tunnel from src to rip, as IPVS's TUN
// mode does (ip_vs_tunnel_xmit): the outer header takes the headroom before the packet, its source
// is the one the kernel would use toward rip (tunsrc.go), DF is the inner packet's. The Ethernet
// header is written without MACs (transmit sets them). It reports false when the headroom is too
// small. The caller has checked that the packet fits (tunnelMTU): we do not fragment.
func (p *Pipeline) encapsulate(cur *cursor, src, rip *header.Addr) bool {
	pkt := &cur.pkt
	inner := cur.frame[pkt.L3Offset : pkt.L3Offset+pkt.L3Length]
	hdr := ipipOverhead
	if pkt.IsIPv6 {
		hdr = ip6Overhead
	}
	start := cur.off + pkt.L3Offset - hdr - header.EthernetMinimumSize
	if start < 0 {
		return false
	}
	b := cur.buf[start : cur.off+pkt.L3Offset+len(inner)]
	eth := header.Ethernet(b)
	if pkt.IsIPv6 {
		eth.SetType(header.EtherTypeIPv6)
		// The inner traffic class, no flow label.
		header.IPv6(b[header.EthernetMinimumSize:]).Encode(&header.IPv6Fields{TrafficClass: header.IPv6(inner).TrafficClass(),
			PayloadLength: uint16(len(inner)), NextHeader: header.ProtocolIPv6, HopLimit: 64, SrcAddr: src[:], DstAddr: rip[:]})
	} else {
		eth.SetType(header.EtherTypeIPv4)
		in4 := header.IPv4(inner)
		header.IPv4(b[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{TOS: in4.TOS(), TotalLength: uint16(len(inner) + hdr),
			Flags: in4.Flags() & header.IPv4FlagDontFragment, // DF only
			TTL:   64, Protocol: header.ProtocolIPIP, SrcAddr: src[12:], DstAddr: rip[12:]})
	}
	cur.outOff, cur.outLen = start, len(b)
	p.c.tunnelled++
	return true
}

// tooBig answers a packet too big for the path with an ICMP error to its sender saying the path's
// MTU is mtu: fragmentation needed (IPv4, only for DF packets; the others are dropped) or packet too
// big (IPv6). It is built in place: new headers in the headroom, then as much of the packet as fits
// the RFC 1812 / RFC 4443 limits (576 / 1280 bytes in all). It goes back out of the receiving port
// to the frame's sender.
func (p *Pipeline) tooBig(cur *cursor, mtu int) (Verdict, int) {
	pkt := &cur.pkt
	back := hop{port: cur.in, mac: header.Ethernet(cur.frame).SourceAddress()}
	quote := pkt.L3Length
	var start int
	if pkt.IsIPv6 {
		const hdr = header.EthernetMinimumSize + header.IPv6MinimumSize + 8
		quote = min(quote, 1280-header.IPv6MinimumSize-8)
		if start = cur.off + pkt.L3Offset - hdr; start < 0 {
			return p.drop(DropNoHeadroom)
		}
		b := cur.buf[start : start+hdr+quote]
		src, dst := pkt.Tuple.DstAddr, pkt.Tuple.SrcAddr // from the VIP the client talks to
		eth := header.Ethernet(b)
		eth.SetType(header.EtherTypeIPv6)
		header.IPv6(b[header.EthernetMinimumSize:]).Encode(&header.IPv6Fields{PayloadLength: uint16(8 + quote),
			NextHeader: header.ProtocolICMPv6, HopLimit: 64, SrcAddr: src[:], DstAddr: dst[:]})
		icmp := header.ICMPv6(b[header.EthernetMinimumSize+header.IPv6MinimumSize:])
		icmp.Encode(&header.ICMPFields{Type: header.ICMPv6PacketTooBig, Rest: uint32(mtu)})
		icmp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolICMPv6, src[:], dst[:], uint16(8+quote)))
		cur.outOff, cur.outLen = start, len(b)
	} else {
		if header.IPv4(cur.frame[pkt.L3Offset:]).Flags()&header.IPv4FlagDontFragment == 0 {
			return p.drop(DropTooBigNoDF)
		}
		const hdr = header.EthernetMinimumSize + header.IPv4MinimumSize + 8
		quote = min(quote, 576-header.IPv4MinimumSize-8)
		if start = cur.off + pkt.L3Offset - hdr; start < 0 {
			return p.drop(DropNoHeadroom)
		}
		b := cur.buf[start : start+hdr+quote]
		src, dst := pkt.Tuple.DstAddr, pkt.Tuple.SrcAddr
		eth := header.Ethernet(b)
		eth.SetType(header.EtherTypeIPv4)
		header.IPv4(b[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{TOS: 0xc0, // precedence: internetwork control
			TotalLength: uint16(header.IPv4MinimumSize + 8 + quote), TTL: 64, Protocol: header.ProtocolICMP, SrcAddr: src[12:], DstAddr: dst[12:]})
		icmp := header.ICMPv4(b[header.EthernetMinimumSize+header.IPv4MinimumSize:])
		icmp.Encode(&header.ICMPFields{Type: header.ICMPv4DstUnreachable, Code: header.ICMPv4FragmentationNeeded, Rest: uint32(uint16(mtu))})
		icmp.FillChecksum()
		cur.outOff, cur.outLen = start, len(b)
	}
	p.c.drops[DropTooBig]++ // the packet; the error is sent (tx)
	p.c.icmpSent++
	return p.transmit(cur, back)
}

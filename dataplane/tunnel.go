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

// tunnel puts a packet of connection e in its tunnel to the real server, toward next hop h: from
// the real server's tunnel source (tunsrc.go), without which it is dropped (never sent from an
// unspecified address); if it would not fit the port's MTU in the tunnel, fragmented first when it
// may be (IPv4 without DF: tunnelFragments, as IPVS lets the kernel do), else answered with an
// ICMP error to the client (tooBig); then encapsulated. ok is false when the packet went another
// way, whose verdict and port are returned.
func (p *Pipeline) tunnel(cur *cursor, e *conntrack.Entry[connVal], h hop) (v Verdict, port int, ok bool) {
	out := h.port
	src, ok := p.tunSrc.load().source(e.Value.destID, e.Value.destGen, out, cur.pkt.IsIPv6)
	rip := &e.Tuples[conntrack.DirReply].SrcAddr
	mtu := p.tunnelMTU(cur, out)
	mayFragment := !cur.pkt.IsIPv6 && !header.IPv4(cur.frame[cur.pkt.L3Offset:]).DontFragment()
	switch {
	case !ok:
		v, port = p.drop(DropNoTunnelSource)
	case cur.pkt.L3Length > mtu && mayFragment && !p.tunnelFragments(cur, src, rip, h, mtu):
		v, port = VerdictDrop, 0 // counted
	case cur.pkt.L3Length > mtu && !mayFragment:
		v, port = p.tooBig(cur, mtu)
	case !p.encapsulate(cur, src, rip):
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
// small. The caller has checked that the packet fits (tunnelMTU).
func (p *Pipeline) encapsulate(cur *cursor, src, rip *header.Addr) bool {
	pkt := &cur.pkt
	start, ok := encapsulateAt(cur.buf, cur.off+pkt.L3Offset, pkt.L3Length, pkt.IsIPv6, src, rip)
	if !ok {
		return false
	}
	cur.outOff, cur.outLen = start, cur.off+pkt.L3Offset+pkt.L3Length-start
	p.c.tunnelled++
	return true
}

// encapsulateAt writes the Ethernet header (type only) and the outer header of the tunnel from src
// to rip before the IP packet buf[l3:l3+n] (IPv6 or IPv4) and returns where the frame now starts,
// or false when buf has no room before the packet.
func encapsulateAt(buf []byte, l3, n int, v6 bool, src, rip *header.Addr) (int, bool) {
	inner := buf[l3 : l3+n]
	hdr := ipipOverhead
	if v6 {
		hdr = ip6Overhead
	}
	start := l3 - hdr - header.EthernetMinimumSize
	if start < 0 {
		return 0, false
	}
	b := buf[start : l3+n]
	eth := header.Ethernet(b)
	if v6 {
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
	return start, true
}

// tunnelFragments fragments an IPv4 packet without DF that does not fit the tunnel (of inner MTU
// mtu) as a router on its path would (RFC 791): the first piece stays in place for the caller to
// encapsulate, the others are built in the pool, each in the tunnel to rip, addressed to the next
// hop h, and queued for the worker to send after it (fragmentOut). A packet with IP options, or
// without room in the pool for its pieces, is dropped (counted): false.
func (p *Pipeline) tunnelFragments(cur *cursor, src, rip *header.Addr, h hop, mtu int) bool {
	pkt := &cur.pkt
	ip := header.IPv4(cur.frame[pkt.L3Offset : pkt.L3Offset+pkt.L3Length])
	if ip.HeaderLength() != header.IPv4MinimumSize {
		p.drop(DropTooBigNoDF)
		return false
	}
	const hl = header.IPv4MinimumSize
	data := ip[hl:]
	step := (mtu - hl) &^ 7
	pieces := (len(data) + step - 1) / step
	pool := &p.frags.pool
	if len(pool.free) < pieces-1 {
		p.drop(DropFragBufferFull)
		return false
	}
	base, more := ip.FragmentOffset(), ip.More()
	const l3 = header.EthernetMinimumSize + ipipOverhead // where a piece's inner packet starts in its slot
	for k := 1; k < pieces; k++ {
		chunk := data[k*step : min((k+1)*step, len(data))]
		s := pool.get()
		b := pool.slot(s)
		piece := header.IPv4(b[l3 : l3+hl+len(chunk)])
		copy(piece, ip[:hl])
		copy(piece[hl:], chunk)
		piece.SetTotalLength(uint16(hl + len(chunk)))
		piece.SetFlagsFragmentOffset(fragFlags(k < pieces-1 || more), base+uint16(k*step))
		piece.FillChecksum()
		start, _ := encapsulateAt(b, l3, len(piece), false, src, rip) // start is 0: the slot has the room
		eth := header.Ethernet(b[start:])
		h.address(eth)
		eth.SetSourceAddress(p.ports[h.port].MAC)
		pool.lens[s], pool.ins[s] = uint16(l3+len(piece)), uint8(h.port)
		p.frags.out.push(fragOut{slot: s, to: -1}) // counted sent (tx) when the worker sends it
	}
	ip.SetTotalLength(uint16(hl + step))
	ip.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, base)
	ip.FillChecksum()
	pkt.L3Length = hl + step
	p.c.fragMade += uint64(pieces)
	return true
}

// fragFlags are the IPv4 flags of a fragment, more or not to follow (DF is clear: it is fragmented).
func fragFlags(more bool) uint8 {
	if more {
		return header.IPv4FlagMoreFragments
	}
	return 0
}

// tooBig answers a packet too big for the path with an ICMP error to its sender saying the path's
// MTU is mtu: fragmentation needed (IPv4, only for DF packets; the others are dropped) or packet too
// big (IPv6). It is built in place: new headers in the headroom, then as much of the packet as fits
// the RFC 1812 / RFC 4443 limits (576 / 1280 bytes in all). It goes back out of the receiving port
// to the frame's sender.
func (p *Pipeline) tooBig(cur *cursor, mtu int) (Verdict, int) {
	pkt := &cur.pkt
	back := hopTo(cur.in, header.Ethernet(cur.frame).SourceAddress())
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

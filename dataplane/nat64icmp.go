package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// icmpType64 maps an ICMPv4 error to ICMPv6 (RFC 7915 §4.2), with the MTU for packet-too-big
// grown by the headers' difference; ok is false for what is not translated.
func icmpType64(typ, code uint8, mtu uint16) (t6, c6 uint8, mtu6 uint32, ok bool) {
	switch typ {
	case header.ICMPv4DstUnreachable:
		switch code {
		case 0, 1, 5, 6, 7, 8, 11, 12: // net, host, source route, unknown, isolated, TOS
			return header.ICMPv6DstUnreachable, 0, 0, true
		case 2: // protocol unreachable: parameter problem, unrecognised next header
			return header.ICMPv6ParamProblem, 1, 6, true // pointer to the next-header field
		case 3: // port unreachable
			return header.ICMPv6DstUnreachable, 4, 0, true
		case header.ICMPv4FragmentationNeeded:
			return header.ICMPv6PacketTooBig, 0, uint32(max(mtu, 1260)) + 20, true
		case 9, 10, 13, 15: // administratively prohibited
			return header.ICMPv6DstUnreachable, 1, 0, true
		}
	case header.ICMPv4TimeExceeded:
		return header.ICMPv6TimeExceeded, code, 0, true
	}
	return 0, 0, 0, false
}

// icmpType46 maps an ICMPv6 error to ICMPv4 (RFC 7915 §5.2).
func icmpType46(typ, code uint8, mtu uint32) (t4, c4 uint8, mtu4 uint16, ok bool) {
	switch typ {
	case header.ICMPv6DstUnreachable:
		switch code {
		case 0, 2, 3: // no route, beyond scope, address unreachable
			return header.ICMPv4DstUnreachable, 1, 0, true
		case 1: // administratively prohibited
			return header.ICMPv4DstUnreachable, 10, 0, true
		case 4: // port unreachable
			return header.ICMPv4DstUnreachable, 3, 0, true
		}
	case header.ICMPv6PacketTooBig:
		return header.ICMPv4DstUnreachable, header.ICMPv4FragmentationNeeded, uint16(min(max(mtu, 1300)-20, 0xffff)), true
	case header.ICMPv6TimeExceeded:
		return header.ICMPv4TimeExceeded, code, 0, true
	}
	return 0, 0, 0, false
}

// icmpTranslate sends an ICMP error of a NAT64 connection to the other side in the other family:
// the outer header, the ICMP type and code, and the quoted header are rebuilt in front of the
// quoted transport header, which stays in place; the quote becomes the connection's packet as the
// other side sent it. The quoted transport header is at offset il4 of the frame.
func (p *Pipeline) icmpTranslate(cur *cursor, id uint32, e *conntrack.Entry[connVal], dir conntrack.Dir, il4 int) (Verdict, int) {
	pkt, frame := &cur.pkt, cur.frame
	h, ok := p.hop(&e.Value, dir) // before the frame is rewritten: a drop leaves it as it came
	if !ok {
		return p.neighMiss(&e.Value, dir)
	}
	quote := &e.Tuples[dir^1] // what the other side sent
	end := pkt.L3Offset + pkt.L3Length
	// The quoted transport header and what follows of it (at least its ports).
	tail := frame[il4:end]
	// The error's ICMP header, as ICMPv4 or ICMPv6 (the same layout).
	icmpIn := header.ICMPv4(frame[pkt.L4Offset:])
	var hdr int // bytes of the new outer IP + ICMP + quoted IP headers
	if pkt.IsIPv6 {
		t4, c4, mtu4, ok := icmpType46(icmpIn.Type(), icmpIn.Code(), header.ICMPv6(icmpIn).MTU())
		if !ok {
			return p.drop(DropICMPNAT64)
		}
		hdr = header.IPv4MinimumSize + header.ICMPv4MinimumSize + header.IPv4MinimumSize
		start := cur.off + il4 - hdr - header.EthernetMinimumSize
		b := cur.buf[start : cur.off+end]
		header.Ethernet(b).SetType(header.EtherTypeIPv4)
		ip := header.IPv4(b[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b) - header.EthernetMinimumSize), TTL: 64, Protocol: header.ProtocolICMP,
			SrcAddr: quote.DstAddr[12:], DstAddr: quote.SrcAddr[12:]})
		icmp := header.ICMPv4(ip[header.IPv4MinimumSize : len(b)-header.EthernetMinimumSize])
		icmp.Encode(&header.ICMPFields{Type: t4, Code: c4, Rest: uint32(mtu4)})
		header.IPv4(icmp[header.ICMPv4MinimumSize:]).Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + len(tail)),
			TTL: 64, Protocol: quote.Proto, SrcAddr: quote.SrcAddr[12:], DstAddr: quote.DstAddr[12:]})
		setPorts(tail, quote)
		p.spQuote(tail, id, &e.Value, dir)
		p.ppQuote(tail, id, &e.Value, dir)
		icmp.FillChecksum()
		cur.outOff, cur.outLen = start, len(b)
	} else {
		t6, c6, mtu6, ok := icmpType64(icmpIn.Type(), icmpIn.Code(), icmpIn.MTU())
		if !ok {
			return p.drop(DropICMPNAT64)
		}
		hdr = header.IPv6MinimumSize + 8 + header.IPv6MinimumSize
		start := cur.off + il4 - hdr - header.EthernetMinimumSize
		if start < 0 {
			return p.drop(DropNoHeadroom)
		}
		b := cur.buf[start : cur.off+end]
		header.Ethernet(b).SetType(header.EtherTypeIPv6)
		ip := header.IPv6(b[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv6Fields{PayloadLength: uint16(len(b) - header.EthernetMinimumSize - header.IPv6MinimumSize),
			NextHeader: header.ProtocolICMPv6, HopLimit: 64, SrcAddr: quote.DstAddr[:], DstAddr: quote.SrcAddr[:]})
		icmp := header.ICMPv6(ip[header.IPv6MinimumSize : len(b)-header.EthernetMinimumSize])
		icmp.Encode(&header.ICMPFields{Type: t6, Code: c6, Rest: mtu6})
		header.IPv6(icmp[header.ICMPv6MinimumSize:]).Encode(&header.IPv6Fields{PayloadLength: uint16(len(tail)), NextHeader: quote.Proto,
			HopLimit: 64, SrcAddr: quote.SrcAddr[:], DstAddr: quote.DstAddr[:]})
		setPorts(tail, quote)
		p.spQuote(tail, id, &e.Value, dir)
		p.ppQuote(tail, id, &e.Value, dir)
		icmp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(icmp))))
		cur.outOff, cur.outLen = start, len(b)
	}
	p.c.translated++
	return p.transmit(cur, h)
}

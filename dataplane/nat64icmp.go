package dataplane

import (
	"encoding/binary"

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
// other side sent it. frame's quote starts at inner L3 offset il3, its transport header at il4.
func (p *Pipeline) icmpTranslate(frame []byte, id uint32, e *conntrack.Entry[connVal], dir conntrack.Dir, il4 int) (Verdict, int) {
	pkt := &p.pkt
	quote := &e.Tuples[dir^1] // what the other side sent
	end := pkt.L3Offset + pkt.L3Length
	// The quoted transport header and what follows of it (at least its ports).
	tail := frame[il4:end]
	icmpIn := frame[pkt.L4Offset:]
	var hdr int // bytes of the new outer IP + ICMP + quoted IP headers
	if pkt.IsIPv6 {
		t4, c4, mtu4, ok := icmpType46(icmpIn[0], icmpIn[1], binary.BigEndian.Uint32(icmpIn[4:]))
		if !ok {
			return p.drop(DropICMPNAT64)
		}
		hdr = header.IPv4MinimumSize + header.ICMPv4MinimumSize + header.IPv4MinimumSize
		start := p.off + il4 - hdr - header.EthernetMinimumSize
		b := p.buf[start : p.off+end]
		header.Ethernet(b).SetType(header.EtherTypeIPv4)
		ip := header.IPv4(b[header.EthernetMinimumSize:])
		writeIPv4(ip, uint16(len(b)-header.EthernetMinimumSize), header.ProtocolICMP, 64, quote.DstAddr[12:], quote.SrcAddr[12:])
		icmp := header.ICMPv4(ip[header.IPv4MinimumSize : len(b)-header.EthernetMinimumSize])
		icmp[0], icmp[1] = t4, c4
		binary.BigEndian.PutUint32(icmp[4:], uint32(mtu4))
		qip := header.IPv4(icmp[header.ICMPv4MinimumSize:])
		writeIPv4(qip, uint16(header.IPv4MinimumSize+len(tail)), quote.Proto, 64, quote.SrcAddr[12:], quote.DstAddr[12:])
		setPorts(tail, quote)
		p.spQuote(tail, id, &e.Value, dir)
		icmp.SetChecksum(0)
		icmp.FillChecksum()
		p.outOff, p.outLen = start, len(b)
	} else {
		t6, c6, mtu6, ok := icmpType64(icmpIn[0], icmpIn[1], binary.BigEndian.Uint16(icmpIn[6:]))
		if !ok {
			return p.drop(DropICMPNAT64)
		}
		hdr = header.IPv6MinimumSize + 8 + header.IPv6MinimumSize
		start := p.off + il4 - hdr - header.EthernetMinimumSize
		if start < 0 {
			return p.drop(DropNoHeadroom)
		}
		b := p.buf[start : p.off+end]
		header.Ethernet(b).SetType(header.EtherTypeIPv6)
		ip := header.IPv6(b[header.EthernetMinimumSize:])
		writeIPv6(ip, uint16(len(b)-header.EthernetMinimumSize-header.IPv6MinimumSize), header.ProtocolICMPv6, 64, quote.DstAddr[:], quote.SrcAddr[:])
		icmp := header.ICMPv6(ip[header.IPv6MinimumSize : len(b)-header.EthernetMinimumSize])
		icmp[0], icmp[1] = t6, c6
		binary.BigEndian.PutUint32(icmp[4:], mtu6)
		qip := header.IPv6(icmp[8:])
		writeIPv6(qip, uint16(len(tail)), quote.Proto, 64, quote.SrcAddr[:], quote.DstAddr[:])
		setPorts(tail, quote)
		p.spQuote(tail, id, &e.Value, dir)
		icmp.SetChecksum(0)
		icmp.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolICMPv6, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(icmp))))
		p.outOff, p.outLen = start, len(b)
	}
	v := &e.Value
	mac, ok := p.neigh.mac(uint32(v.neigh[dir]))
	if !ok {
		p.neigh.request(uint32(v.neigh[dir]))
		return p.drop(DropNeighMiss)
	}
	out := int(v.out[dir])
	eth := header.Ethernet(p.buf[p.outOff:])
	eth.SetDestinationAddress(mac)
	eth.SetSourceAddress(p.ports[out].MAC)
	p.c.translated++
	p.c.tx++
	return VerdictTX, out
}

func writeIPv4(ip header.IPv4, total uint16, proto, ttl uint8, src, dst []byte) {
	ip[0], ip[1] = 0x45, 0
	ip.SetTotalLength(total)
	binary.BigEndian.PutUint32(ip[4:], 0)
	ip.SetTTL(ttl)
	ip[9] = proto
	ip.SetSourceAddress(src)
	ip.SetDestinationAddress(dst)
	ip.FillChecksum()
}

func writeIPv6(ip header.IPv6, payload uint16, next, hop uint8, src, dst []byte) {
	binary.BigEndian.PutUint32(ip[0:], 6<<28)
	ip.SetPayloadLength(payload)
	ip.SetNextHeader(next)
	ip.SetHopLimit(hop)
	ip.SetSourceAddress(src)
	ip.SetDestinationAddress(dst)
}

package dataplane

import (
	"github.com/xdpvs/xdpvs/conntrack"
	"github.com/xdpvs/xdpvs/header"
)

// Fragments of NAT64 connections, translated one by one as RFC 7915 does (§4.1, §5.1.1): an IPv6
// fragment becomes an IPv4 fragment (the identification's low 16 bits, its offset and M as MF, DF
// clear), an IPv4 fragment an IPv6 one with a fragment header (its identification, offset and MF
// as M), split again when it no longer fits the egress MTU (the 28 bytes more); the first
// fragment's transport checksum is updated incrementally for the new pseudo header and ports (a
// full recompute needs the whole datagram). Fragments with extension headers after the fragment
// header, and IPv4 UDP without a checksum (which IPv6 requires), are not translated
// (frag_unsupported).

// nat64Fragment translates a fragment of NAT64 connection e going in direction dir and sends it
// toward next hop h.
func (p *Pipeline) nat64Fragment(cur *cursor, e *conntrack.Entry[connVal], dir conntrack.Dir, h hop) (Verdict, int) {
	other := &e.Tuples[dir^1]
	var ok bool
	var r DropReason
	if cur.pkt.IsIPv6 {
		ok, r = p.fragmentTo4(cur, other)
	} else {
		ok, r = p.fragmentTo6(cur, other, h)
	}
	if !ok {
		return p.drop(r)
	}
	p.c.translated++
	return p.send(cur, e, dir, h)
}

// nat64FirstL4 updates the first fragment's transport header at l4 for the new addresses (old:
// views of the addresses in the packet, read before the header is rewritten) and ports.
func nat64FirstL4(l4 []byte, proto uint8, oldSrc, oldDst, newSrc, newDst []byte, other *header.Tuple) {
	isTCP := proto == header.ProtocolTCP
	l4Pseudo(l4, isTCP, oldSrc, newSrc)
	l4Pseudo(l4, isTCP, oldDst, newDst)
	if isTCP {
		tcp := header.TCP(l4)
		tcp.SetSourcePortWithChecksumUpdate(other.DstPort)
		tcp.SetDestinationPortWithChecksumUpdate(other.SrcPort)
		return
	}
	udp := header.UDP(l4)
	udp.SetSourcePortWithChecksumUpdate(other.DstPort)
	udp.SetDestinationPortWithChecksumUpdate(other.SrcPort)
}

// fragmentTo4 rewrites an IPv6 fragment as an IPv4 one, in place (the header shrinks).
func (p *Pipeline) fragmentTo4(cur *cursor, other *header.Tuple) (bool, DropReason) {
	pkt := &cur.pkt
	l3 := cur.frame[pkt.L3Offset : pkt.L3Offset+pkt.L3Length]
	_, _, f, _ := header.IPv6(l3).TransportProtocol(header.IPv6DefaultMaxExtHeaders) // Parse checked it
	if f.Offset == 0 && pkt.L4Offset != pkt.L3Offset+f.DataOffset {
		return false, DropFragUnsupported // extension headers after the fragment header
	}
	in := header.IPv6(l3)
	tc, hopLimit := in.TrafficClass(), in.HopLimit()
	data := l3[f.DataOffset:]
	newSrc, newDst := other.DstAddr[12:], other.SrcAddr[12:]
	if f.Offset == 0 {
		nat64FirstL4(data, pkt.Proto, in.SourceAddress(), in.DestinationAddress(), newSrc, newDst, other)
	}
	start := cur.off + pkt.L3Offset + f.DataOffset - header.IPv4MinimumSize - header.EthernetMinimumSize
	b := cur.buf[start : cur.off+pkt.L3Offset+pkt.L3Length]
	header.Ethernet(b).SetType(header.EtherTypeIPv4)
	flags := uint8(0)
	if f.More {
		flags = header.IPv4FlagMoreFragments
	}
	header.IPv4(b[header.EthernetMinimumSize:]).Encode(&header.IPv4Fields{TOS: tc, TotalLength: uint16(header.IPv4MinimumSize + len(data)),
		ID: uint16(f.ID), Flags: flags, FragmentOffset: f.Offset, TTL: hopLimit, Protocol: pkt.Proto, SrcAddr: newSrc, DstAddr: newDst})
	cur.outOff, cur.outLen = start, len(b)
	return true, 0
}

// fragmentTo6 rewrites an IPv4 fragment as an IPv6 one with a fragment header, into the headroom;
// what does not fit the MTU of h's port goes in further fragments built in the pool and queued for
// the worker (fragmentOut), as tunnelFragments does.
func (p *Pipeline) fragmentTo6(cur *cursor, other *header.Tuple, h hop) (bool, DropReason) {
	pkt := &cur.pkt
	in := header.IPv4(cur.frame[pkt.L3Offset : pkt.L3Offset+pkt.L3Length])
	hl := in.HeaderLength()
	data := in[hl:]
	off, more, id, tos, ttl := in.FragmentOffset(), in.More(), uint32(in.ID()), in.TOS(), in.TTL()
	newSrc, newDst := other.DstAddr[:], other.SrcAddr[:]
	if off == 0 {
		if pkt.Proto == header.ProtocolUDP && header.UDP(data).Checksum() == 0 {
			return false, DropFragUnsupported // IPv6 needs the checksum, which needs the whole datagram
		}
		nat64FirstL4(data, pkt.Proto, in.SourceAddress(), in.DestinationAddress(), newSrc, newDst, other)
	}
	const hdr = header.IPv6MinimumSize + header.IPv6FragmentHeaderSize
	step := (p.ports[h.port].mtu() - hdr) &^ 7
	pieces := (len(data) + step - 1) / step
	if len(p.frags.pool.free) < pieces-1 {
		return false, DropFragBufferFull
	}
	start := cur.off + pkt.L3Offset + hl - hdr - header.EthernetMinimumSize
	if start < 0 {
		return false, DropNoHeadroom
	}
	const l3 = header.EthernetMinimumSize + hdr // where a piece's data starts in its slot
	for k := 1; k < pieces; k++ {
		chunk := data[k*step : min((k+1)*step, len(data))]
		s := p.frags.pool.get()
		b := p.frags.pool.slot(s)
		copy(b[l3:], chunk)
		fragment6(b[:l3+len(chunk)], len(chunk), tos, ttl, pkt.Proto, off+uint16(k*step), k < pieces-1 || more, id, newSrc, newDst)
		eth := header.Ethernet(b)
		h.address(eth)
		eth.SetSourceAddress(p.ports[h.port].MAC)
		p.frags.pool.lens[s], p.frags.pool.ins[s] = uint16(l3+len(chunk)), uint8(h.port)
		p.frags.out.push(fragOut{slot: s, to: -1}) // counted sent (tx) when the worker sends it
	}
	n := min(step, len(data))
	b := cur.buf[start : start+l3+n]
	fragment6(b, n, tos, ttl, pkt.Proto, off, pieces > 1 || more, id, newSrc, newDst)
	if pieces > 1 {
		p.c.fragMade += uint64(pieces)
	}
	cur.outOff, cur.outLen = start, len(b)
	return true, 0
}

// fragment6 writes the Ethernet type, the IPv6 header and the fragment header of a fragment of n
// bytes of data at the start of b (the data follows them).
func fragment6(b []byte, n int, tc, hopLimit, proto uint8, offset uint16, more bool, id uint32, src, dst []byte) {
	header.Ethernet(b).SetType(header.EtherTypeIPv6)
	ip := b[header.EthernetMinimumSize:]
	header.IPv6(ip).Encode(&header.IPv6Fields{TrafficClass: tc, PayloadLength: uint16(header.IPv6FragmentHeaderSize + n),
		NextHeader: header.IPv6Fragment, HopLimit: hopLimit, SrcAddr: src, DstAddr: dst})
	header.EncodeIPv6Fragment(ip[header.IPv6MinimumSize:], proto, offset, more, id)
}

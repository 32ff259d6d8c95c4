package dataplane

import "github.com/xdpvs/xdpvs/header"

// completeChecksum finishes the TCP or UDP checksum of the packet if its sender left it to transmit
// checksum offload, and counts it (checksums_completed); xdpvsd --complete-checksums turns it on.
//
// A local sender with offload (a container on a veth, a virtual NIC that defers the work: Linux's
// CHECKSUM_PARTIAL) writes only the pseudo-header sum into the field and leaves the rest to the
// device, which for a frame that reaches AF_XDP never comes: the kernel tells XDP nothing about it
// (there is no skb). Forwarded as it is, such a packet is dropped by the real server. The test is
// the kernel's own for CHECKSUM_PARTIAL: the field holds the pseudo-header sum or its complement
// and the segment does not verify; only then is the full checksum computed
// (header.TCP.CompletePartialChecksum). A segment with any other wrong checksum is forwarded
// unchanged, for its receiver to drop, as before. It runs before anything else reads or updates
// the checksum (the SYN proxy, NAT's incremental updates, TOA), for every TCP and UDP packet (not
// fragments: those are dropped), either way: a real server's replies may be sent with offload too.
func (p *Pipeline) completeChecksum(cur *cursor) {
	pkt := &cur.pkt
	src, dst := pkt.Tuple.SrcAddr[:], pkt.Tuple.DstAddr[:]
	if !pkt.IsIPv6 {
		src, dst = src[12:], dst[12:]
	}
	seg := cur.frame[pkt.L4Offset : pkt.L3Offset+pkt.L3Length]
	var done bool
	if pkt.Proto == header.ProtocolTCP {
		done = header.TCP(seg).CompletePartialChecksum(header.PseudoHeaderChecksum(pkt.Proto, src, dst, uint16(len(seg))))
	} else {
		u := header.UDP(seg)
		u = u[:u.Length()]
		done = u.CompletePartialChecksum(header.PseudoHeaderChecksum(pkt.Proto, src, dst, uint16(len(u))))
	}
	if done {
		p.c.sumsCompleted++
	}
}

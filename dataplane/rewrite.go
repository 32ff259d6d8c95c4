package dataplane

import "github.com/xdpvs/xdpvs/header"

// rewriteL3L4 gives a parsed TCP or UDP packet the addresses and ports of the reverse of other (the
// connection's tuple of the opposite direction), updating the IPv4 header checksum and the L4
// checksum incrementally (RFC 1624). Fields that do not change are not touched, so a NAT rewrite
// costs two updates per direction.
func rewriteL3L4(frame []byte, pkt *header.Packet, other *header.Tuple) {
	t := &pkt.Tuple
	newSrc, newDst := &other.DstAddr, &other.SrcAddr
	l4 := frame[pkt.L4Offset:]
	isTCP := pkt.Proto == header.ProtocolTCP
	if pkt.IsIPv6 {
		ip := header.IPv6(frame[pkt.L3Offset:])
		if *newSrc != t.SrcAddr {
			l4Pseudo(l4, isTCP, ip.SourceAddress(), newSrc[:])
			ip.SetSourceAddress(newSrc[:])
		}
		if *newDst != t.DstAddr {
			l4Pseudo(l4, isTCP, ip.DestinationAddress(), newDst[:])
			ip.SetDestinationAddress(newDst[:])
		}
	} else {
		ip := header.IPv4(frame[pkt.L3Offset:])
		if *newSrc != t.SrcAddr {
			l4Pseudo(l4, isTCP, ip.SourceAddress(), newSrc[12:])
			ip.SetSourceAddressWithChecksumUpdate(newSrc[12:])
		}
		if *newDst != t.DstAddr {
			l4Pseudo(l4, isTCP, ip.DestinationAddress(), newDst[12:])
			ip.SetDestinationAddressWithChecksumUpdate(newDst[12:])
		}
	}
	if sp, dp := other.DstPort, other.SrcPort; isTCP {
		tcp := header.TCP(l4)
		if sp != t.SrcPort {
			tcp.SetSourcePortWithChecksumUpdate(sp)
		}
		if dp != t.DstPort {
			tcp.SetDestinationPortWithChecksumUpdate(dp)
		}
	} else {
		udp := header.UDP(l4)
		if sp != t.SrcPort {
			udp.SetSourcePortWithChecksumUpdate(sp)
		}
		if dp != t.DstPort {
			udp.SetDestinationPortWithChecksumUpdate(dp)
		}
	}
}

// rewriteL3 is rewriteL3L4 for a fragment other than the first: the addresses alone (and the IPv4
// header checksum); the L4 checksum, in the first fragment, took their change.
func rewriteL3(frame []byte, pkt *header.Packet, other *header.Tuple) {
	t := &pkt.Tuple
	newSrc, newDst := &other.DstAddr, &other.SrcAddr
	if pkt.IsIPv6 {
		ip := header.IPv6(frame[pkt.L3Offset:])
		ip.SetSourceAddress(newSrc[:])
		ip.SetDestinationAddress(newDst[:])
		return
	}
	ip := header.IPv4(frame[pkt.L3Offset:])
	if *newSrc != t.SrcAddr {
		ip.SetSourceAddressWithChecksumUpdate(newSrc[12:])
	}
	if *newDst != t.DstAddr {
		ip.SetDestinationAddressWithChecksumUpdate(newDst[12:])
	}
}

// l4Pseudo updates a TCP or UDP checksum for an address change in the pseudo header. It must be
// called before the address in the IP header is overwritten (old is a view of it).
func l4Pseudo(l4 []byte, isTCP bool, old, new []byte) {
	if isTCP {
		header.TCP(l4).UpdateChecksumPseudoHeaderAddress(old, new)
	} else {
		header.UDP(l4).UpdateChecksumPseudoHeaderAddress(old, new)
	}
}

package header

import "encoding/binary"

// IPv6 header (RFC 8200 §3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                         Source Address                        +
//	|                          (16 octets)                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                      Destination Address                      +
//	|                          (16 octets)                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv6VersTCFL   = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6SrcAddr    = 8
	ipv6DstAddr    = 24
)

const (
	// IPv6MinimumSize is the size of the fixed IPv6 header.
	IPv6MinimumSize = 40
	// IPv6AddressSize is the size of an IPv6 address.
	IPv6AddressSize = 16
	// IPv6Version is the value of the version field.
	IPv6Version = 6
	// IPv6FragmentHeaderSize is the size of the fragment extension header.
	IPv6FragmentHeaderSize = 8
	// IPv6DefaultMaxExtHeaders is a sensible maxExt for TransportProtocol (Linux accepts more in
	// theory, but no legitimate packet carries more than a handful).
	IPv6DefaultMaxExtHeaders = 8
)

// IPv6 extension header types (RFC 8200 §4, RFC 4302) and the no-next-header value.
const (
	IPv6HopByHop     uint8 = 0
	IPv6Routing      uint8 = 43
	IPv6Fragment     uint8 = 44
	IPv6AH           uint8 = 51
	IPv6NoNextHeader uint8 = 59
	IPv6DestOptions  uint8 = 60
)

// IPv6 is a view of an IPv6 header followed by its payload.
type IPv6 []byte

// IPv6Fields are the fields of a fixed IPv6 header, which Encode writes (gVisor's
// header.IPv6Fields). The version is implied (6).
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32 // 20 bits
	PayloadLength uint16 // bytes after the fixed header, extension headers included
	NextHeader    uint8
	HopLimit      uint8
	SrcAddr       []byte // 16 bytes, not overlapping the header being written
	DstAddr       []byte // 16 bytes, likewise
}

// Encode writes f as a complete 40-byte fixed header at the start of b and leaves the bytes after
// it alone. Every IPv6 header xdpvs makes is written by it.
func (b IPv6) Encode(f *IPv6Fields) {
	_ = b[IPv6MinimumSize-1]
	binary.BigEndian.PutUint32(b[ipv6VersTCFL:], IPv6Version<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[ipv6PayloadLen:], f.PayloadLength)
	b[ipv6NextHeader] = f.NextHeader
	b[ipv6HopLimit] = f.HopLimit
	copy(b[ipv6SrcAddr:ipv6SrcAddr+IPv6AddressSize], f.SrcAddr[:IPv6AddressSize])
	copy(b[ipv6DstAddr:ipv6DstAddr+IPv6AddressSize], f.DstAddr[:IPv6AddressSize])
}

// Version returns the version field.
func (b IPv6) Version() uint8 { return b[ipv6VersTCFL] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN).
func (b IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(b[ipv6VersTCFL:]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[ipv6VersTCFL:]) & 0xFFFFF }

// PayloadLength returns the payload length field: bytes after the fixed header, extension headers included.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLen:]) }

// SetPayloadLength sets the payload length field.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLen:], n) }

// NextHeader returns the next header field of the fixed header.
func (b IPv6) NextHeader() uint8 { return b[ipv6NextHeader] }

// SetNextHeader sets the next header field of the fixed header.
func (b IPv6) SetNextHeader(p uint8) { b[ipv6NextHeader] = p }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimit] }

// SetHopLimit sets the hop limit.
func (b IPv6) SetHopLimit(h uint8) { b[ipv6HopLimit] = h }

// SourceAddress returns the source address: a 16-byte slice of the header, not a copy.
func (b IPv6) SourceAddress() []byte {
	return b[ipv6SrcAddr : ipv6SrcAddr+IPv6AddressSize : ipv6SrcAddr+IPv6AddressSize]
}

// DestinationAddress returns the destination address: a 16-byte slice of the header, not a copy.
func (b IPv6) DestinationAddress() []byte {
	return b[ipv6DstAddr : ipv6DstAddr+IPv6AddressSize : ipv6DstAddr+IPv6AddressSize]
}

// SetSourceAddress sets the source address (16 bytes). IPv6 has no header checksum; transport
// checksums must be updated by the caller (UpdateChecksumPseudoHeaderAddress, before this call).
func (b IPv6) SetSourceAddress(a []byte) {
	copy(b[ipv6SrcAddr:ipv6SrcAddr+IPv6AddressSize], a[:IPv6AddressSize])
}

// SetDestinationAddress sets the destination address (16 bytes), as SetSourceAddress.
func (b IPv6) SetDestinationAddress(a []byte) {
	copy(b[ipv6DstAddr:ipv6DstAddr+IPv6AddressSize], a[:IPv6AddressSize])
}

// Payload returns the bytes after the fixed header up to PayloadLength (or the end of b, if shorter).
func (b IPv6) Payload() []byte {
	end := min(IPv6MinimumSize+int(b.PayloadLength()), len(b))
	return b[IPv6MinimumSize:end]
}

// IsValid reports whether b holds a well-formed IPv6 fixed header for a packet of pktLen bytes: version
// 6 and 40 + PayloadLength ≤ min(pktLen, len(b)). Jumbograms (payload length 0 with a hop-by-hop jumbo
// option) are not supported and are reported valid with an empty payload.
func (b IPv6) IsValid(pktLen int) bool {
	if len(b) < IPv6MinimumSize {
		return false
	}
	tlen := IPv6MinimumSize + int(b.PayloadLength())
	return b.Version() == IPv6Version && tlen <= pktLen && tlen <= len(b)
}

// IPv6FragmentInfo describes the fragment header (RFC 8200 §4.5) found by IPv6.TransportProtocol:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Identification                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type IPv6FragmentInfo struct {
	Present bool   // a fragment header was found
	More    bool   // the M flag
	Offset  uint16 // fragment offset in bytes (the field × 8)
	ID      uint32 // identification
	// DataOffset is where the fragment's data (the fragmentable part) starts in the packet: just after
	// the fragment header.
	DataOffset int
}

// EncodeIPv6Fragment writes a fragment header (RFC 8200 §4.5) at the start of b: the next header,
// the fragment offset in bytes (a multiple of 8), the M flag and the identification.
func EncodeIPv6Fragment(b []byte, next uint8, offset uint16, more bool, id uint32) {
	_ = b[IPv6FragmentHeaderSize-1]
	b[0], b[1] = next, 0
	fo := offset &^ 7
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
}

// NonFirst reports whether the packet is a fragment other than the first: it carries no L4 header.
func (f IPv6FragmentInfo) NonFirst() bool { return f.Present && f.Offset != 0 }

// TransportProtocol walks the extension header chain (RFC 8200 §4) within the packet, that is, the first
// min(len(b), 40+PayloadLength) bytes, and returns the upper-layer protocol and the offset in b of its
// header. It follows hop-by-hop options (0, only first), routing (43), fragment (44), destination options
// (60) and AH (51, whose length is in 4-octet units plus 2), at most maxExt of them.
//
// It stops at any other protocol, which it returns, with l4Offset where that header starts (at the end
// of the chain for no-next-header, 59, and for ESP, 50, whose payload it cannot read). For a fragment
// other than the first, proto is the fragment header's next header, l4Offset the start of the fragment
// data and frag.NonFirst() is true: the bytes at l4Offset are not an L4 header.
//
// ok is false if an extension header is truncated, hop-by-hop is not first, or the chain holds more
// than maxExt headers. b must hold at least IPv6MinimumSize bytes.
func (b IPv6) TransportProtocol(maxExt int) (proto uint8, l4Offset int, frag IPv6FragmentInfo, ok bool) {
	end := min(IPv6MinimumSize+int(b.PayloadLength()), len(b))
	proto = b[ipv6NextHeader]
	off := IPv6MinimumSize
	for n := 0; ; n++ {
		var hlen int
		switch proto {
		case IPv6HopByHop, IPv6Routing, IPv6DestOptions:
			if proto == IPv6HopByHop && n != 0 {
				return proto, off, frag, false
			}
			if off+8 > end {
				return proto, off, frag, false
			}
			hlen = (int(b[off+1]) + 1) * 8
		case IPv6AH:
			if off+8 > end {
				return proto, off, frag, false
			}
			hlen = (int(b[off+1]) + 2) * 4
		case IPv6Fragment:
			if off+IPv6FragmentHeaderSize > end || frag.Present {
				return proto, off, frag, false
			}
			hlen = IPv6FragmentHeaderSize
			fo := binary.BigEndian.Uint16(b[off+2:])
			frag = IPv6FragmentInfo{
				Present: true,
				More:    fo&1 != 0,
				Offset:  fo &^ 7,
				ID:      binary.BigEndian.Uint32(b[off+4:]),
				// The header's end: TransportProtocol checks below that it lies within the packet.
				DataOffset: off + IPv6FragmentHeaderSize,
			}
		default:
			return proto, off, frag, true
		}
		if n >= maxExt || off+hlen > end {
			return proto, off, frag, false
		}
		proto = b[off]
		off += hlen
		if frag.Offset != 0 {
			// Non-first fragment: what follows is fragment data, not headers.
			return proto, off, frag, true
		}
	}
}

package header

import "encoding/binary"

// ICMP (RFC 792) and ICMPv6 (RFC 4443) share the first 8 bytes' layout:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Identifier (echo) / unused  |  Sequence (echo) / Next-hop MTU (v4 frag needed, RFC 1191)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   MTU (v6 packet too big)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data: for errors, as much of the offending packet as fits  ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The ICMP checksum covers the ICMP message only; the ICMPv6 checksum also covers the IPv6 pseudo
// header (RFC 4443 §2.3).
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSequence = 6
	icmpv4MTU    = 6
	icmpv6MTU    = 4
)

const (
	// ICMPv4MinimumSize is the size of an ICMP header (type, code, checksum and 4 type-specific bytes).
	ICMPv4MinimumSize = 8
	// ICMPv6MinimumSize is the size of an ICMPv6 header with its 4 type-specific bytes.
	ICMPv6MinimumSize = 8
	// ICMPErrorQuoteMinimum is how much of the offending packet's payload an ICMP error must quote
	// beyond its IP header (RFC 792): enough for the ports.
	ICMPErrorQuoteMinimum = 8
)

// ICMPv4 message types (RFC 792, RFC 1191).
const (
	ICMPv4EchoReply      uint8 = 0
	ICMPv4DstUnreachable uint8 = 3
	ICMPv4SrcQuench      uint8 = 4
	ICMPv4Redirect       uint8 = 5
	ICMPv4Echo           uint8 = 8
	ICMPv4TimeExceeded   uint8 = 11
	ICMPv4ParamProblem   uint8 = 12
	ICMPv4Timestamp      uint8 = 13
	ICMPv4TimestampReply uint8 = 14
)

// ICMPv4 destination-unreachable codes.
const (
	ICMPv4NetUnreachable      uint8 = 0
	ICMPv4HostUnreachable     uint8 = 1
	ICMPv4ProtoUnreachable    uint8 = 2
	ICMPv4PortUnreachable     uint8 = 3
	ICMPv4FragmentationNeeded uint8 = 4
)

// ICMPv6 message types (RFC 4443, RFC 4861).
const (
	ICMPv6DstUnreachable  uint8 = 1
	ICMPv6PacketTooBig    uint8 = 2
	ICMPv6TimeExceeded    uint8 = 3
	ICMPv6ParamProblem    uint8 = 4
	ICMPv6EchoRequest     uint8 = 128
	ICMPv6EchoReply       uint8 = 129
	ICMPv6RouterSolicit   uint8 = 133
	ICMPv6RouterAdvert    uint8 = 134
	ICMPv6NeighborSolicit uint8 = 135
	ICMPv6NeighborAdvert  uint8 = 136
	ICMPv6RedirectMsg     uint8 = 137
)

// ICMPv4 is a view of an ICMP message.
type ICMPv4 []byte

// ICMPFields are the fields of an ICMP or ICMPv6 header, which ICMPv4.Encode and ICMPv6.Encode
// write. Rest is the 4 type-specific bytes after the checksum: identifier and sequence of an echo,
// the next-hop MTU of a fragmentation needed (low 16 bits, RFC 1191), the MTU of a packet too big,
// the pointer of a parameter problem, 0 where unused.
type ICMPFields struct {
	Type, Code uint8
	Rest       uint32
}

// Encode writes f as the 8-byte header at the start of b with a zero checksum, to be filled once
// the quote or data after it is in place (FillChecksum).
func (b ICMPv4) Encode(f *ICMPFields) { encodeICMP(b, f) }

func encodeICMP(b []byte, f *ICMPFields) {
	_ = b[ICMPv4MinimumSize-1]
	b[icmpType], b[icmpCode] = f.Type, f.Code
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	binary.BigEndian.PutUint32(b[icmpIdent:], f.Rest)
}

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field (the stored, complemented value).
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], v) }

// Ident returns the identifier of an echo request or reply.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// SetIdent sets the identifier. It does not update the checksum.
func (b ICMPv4) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpIdent:], id) }

// SetIdentWithChecksumUpdate sets the identifier and updates the checksum incrementally.
func (b ICMPv4) SetIdentWithChecksumUpdate(id uint16) {
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), b.Ident(), id))
	b.SetIdent(id)
}

// Sequence returns the sequence number of an echo request or reply.
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSequence:]) }

// MTU returns the next-hop MTU of a fragmentation-needed message (bytes 6..8, RFC 1191).
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[icmpv4MTU:]) }

// SetMTU sets the next-hop MTU. It does not update the checksum.
func (b ICMPv4) SetMTU(mtu uint16) { binary.BigEndian.PutUint16(b[icmpv4MTU:], mtu) }

// Payload returns the bytes after the 8-byte header: for an error, the quoted packet.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinimumSize:] }

// IsError reports whether the message is an error that quotes a packet: destination unreachable,
// source quench, redirect, time exceeded or parameter problem.
func (b ICMPv4) IsError() bool { return ICMPv4TypeIsError(b.Type()) }

// ICMPv4TypeIsError reports whether t is an ICMP error type (see ICMPv4.IsError).
func ICMPv4TypeIsError(t uint8) bool {
	// Bits 3, 4, 5, 11, 12.
	return t < 16 && (1<<t)&(1<<3|1<<4|1<<5|1<<11|1<<12) != 0
}

// CalculateChecksum returns the sum (not complemented) of the whole of b with the checksum field as it
// stands. b must be the message exactly.
func (b ICMPv4) CalculateChecksum() uint16 { return Checksum(b, 0) }

// FillChecksum computes the checksum from scratch over the whole of b and stores it.
func (b ICMPv4) FillChecksum() {
	b.SetChecksum(0)
	b.SetChecksum(^Checksum(b, 0))
}

// IsChecksumValid reports whether the stored checksum is right for the message b.
func (b ICMPv4) IsChecksumValid() bool { return Checksum(b, 0) == 0xFFFF }

// ICMPv6 is a view of an ICMPv6 message.
type ICMPv6 []byte

// Encode writes f as the 8-byte header at the start of b with a zero checksum, as ICMPv4.Encode.
func (b ICMPv6) Encode(f *ICMPFields) { encodeICMP(b, f) }

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[icmpType] }

// Code returns the code field.
func (b ICMPv6) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field (the stored, complemented value).
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv6) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], v) }

// Ident returns the identifier of an echo request or reply.
func (b ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// SetIdent sets the identifier. It does not update the checksum.
func (b ICMPv6) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpIdent:], id) }

// SetIdentWithChecksumUpdate sets the identifier and updates the checksum incrementally.
func (b ICMPv6) SetIdentWithChecksumUpdate(id uint16) {
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), b.Ident(), id))
	b.SetIdent(id)
}

// Sequence returns the sequence number of an echo request or reply.
func (b ICMPv6) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpSequence:]) }

// MTU returns the MTU of a packet-too-big message (bytes 4..8).
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[icmpv6MTU:]) }

// SetMTU sets the MTU. It does not update the checksum.
func (b ICMPv6) SetMTU(mtu uint32) { binary.BigEndian.PutUint32(b[icmpv6MTU:], mtu) }

// Payload returns the bytes after the 8-byte header: for an error, the quoted packet.
func (b ICMPv6) Payload() []byte { return b[ICMPv6MinimumSize:] }

// IsError reports whether the message is one of the error types that quote a packet (1–4: destination
// unreachable, packet too big, time exceeded, parameter problem).
func (b ICMPv6) IsError() bool { return ICMPv6TypeIsError(b.Type()) }

// ICMPv6TypeIsError reports whether t is an ICMPv6 error type that quotes a packet (1–4).
func ICMPv6TypeIsError(t uint8) bool { return t-1 < 4 }

// CalculateChecksum returns the sum (not complemented) of the whole of b with the checksum field as it
// stands, starting from pseudo (PseudoHeaderChecksum(ProtocolICMPv6, src, dst, uint16(len(b)))).
func (b ICMPv6) CalculateChecksum(pseudo uint16) uint16 { return Checksum(b, pseudo) }

// FillChecksum computes the checksum from scratch over the whole of b and stores it.
func (b ICMPv6) FillChecksum(pseudo uint16) {
	b.SetChecksum(0)
	b.SetChecksum(^Checksum(b, pseudo))
}

// IsChecksumValid reports whether the stored checksum is right for the message b and pseudo.
func (b ICMPv6) IsChecksumValid(pseudo uint16) bool { return Checksum(b, pseudo) == 0xFFFF }

// UpdateChecksumPseudoHeaderAddress updates the checksum incrementally for an address of the pseudo
// header changing from old to new (16 bytes). Call it before rewriting the IPv6 header.
func (b ICMPv6) UpdateChecksumPseudoHeaderAddress(old, new []byte) {
	b.SetChecksum(ChecksumUpdateAddress(b.Checksum(), old, new))
}

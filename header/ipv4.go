package header

import "encoding/binary"

// IPv4 header (RFC 791 §3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv4VersIHL  = 0
	ipv4TOS      = 1
	ipv4TotalLen = 2
	ipv4ID       = 4
	ipv4FlagsFO  = 6
	ipv4TTL      = 8
	ipv4Protocol = 9
	ipv4Checksum = 10
	ipv4SrcAddr  = 12
	ipv4DstAddr  = 16
)

const (
	// IPv4MinimumSize is the size of an IPv4 header without options (IHL 5).
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is the size of an IPv4 header with IHL 15.
	IPv4MaximumHeaderSize = 60
	// IPv4AddressSize is the size of an IPv4 address.
	IPv4AddressSize = 4
	// IPv4Version is the value of the version field.
	IPv4Version = 4
)

// Flags of the IPv4 header, as returned by IPv4.Flags (the top 3 bits of byte 6, shifted down).
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
)

// IP protocol numbers (IANA), shared by IPv4's Protocol and IPv6's Next Header.
const (
	ProtocolICMP   uint8 = 1
	ProtocolIPIP   uint8 = 4
	ProtocolTCP    uint8 = 6
	ProtocolUDP    uint8 = 17
	ProtocolIPv6   uint8 = 41
	ProtocolGRE    uint8 = 47
	ProtocolESP    uint8 = 50
	ProtocolAH     uint8 = 51
	ProtocolICMPv6 uint8 = 58
)

// IPv4 is a view of an IPv4 header followed by its payload.
type IPv4 []byte

// IPv4Fields are the fields of an IPv4 header without options, which Encode writes (gVisor's
// header.IPv4Fields). Version and IHL are implied (4 and 5); the checksum is computed.
type IPv4Fields struct {
	TOS            uint8
	TotalLength    uint16 // header plus payload, in bytes
	ID             uint16
	Flags          uint8  // IPv4FlagDontFragment, IPv4FlagMoreFragments
	FragmentOffset uint16 // in bytes, a multiple of 8
	TTL            uint8
	Protocol       uint8
	SrcAddr        []byte // 4 bytes, not overlapping the header being written
	DstAddr        []byte // 4 bytes, likewise
}

// Encode writes f as a complete 20-byte header at the start of b (version 4, IHL 5, no options),
// its checksum computed, and leaves the bytes after it alone. Every IPv4 header xdpvs makes (tunnels,
// NAT64, ICMP errors, the SYN proxy's answers, the generator's frames) is written by it.
func (b IPv4) Encode(f *IPv4Fields) {
	_ = b[IPv4MinimumSize-1]
	b[ipv4VersIHL] = IPv4Version<<4 | IPv4MinimumSize/4
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFO:], uint16(f.Flags)<<13|f.FragmentOffset>>3&0x1fff)
	b[ipv4TTL] = f.TTL
	b[ipv4Protocol] = f.Protocol
	copy(b[ipv4SrcAddr:ipv4SrcAddr+IPv4AddressSize], f.SrcAddr[:IPv4AddressSize])
	copy(b[ipv4DstAddr:ipv4DstAddr+IPv4AddressSize], f.DstAddr[:IPv4AddressSize])
	b.SetChecksum(0)
	b.SetChecksum(^Checksum(b[:IPv4MinimumSize], 0))
}

// Version returns the version field.
func (b IPv4) Version() uint8 { return b[ipv4VersIHL] >> 4 }

// HeaderLength returns the header length in bytes (IHL × 4).
func (b IPv4) HeaderLength() int { return int(b[ipv4VersIHL]&0xF) * 4 }

// TOS returns the type of service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[ipv4TOS] }

// TotalLength returns the total length field: header plus payload, in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLen:]) }

// SetTotalLength sets the total length field. It does not update the checksum.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLen:], n) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// Flags returns the three flag bits (IPv4FlagDontFragment, IPv4FlagMoreFragments).
func (b IPv4) Flags() uint8 { return b[ipv4FlagsFO] >> 5 }

// FragmentOffset returns the fragment offset in bytes (the field × 8).
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipv4FlagsFO:]) << 3
}

// SetFlagsFragmentOffset sets the three flag bits and the fragment offset (bytes, a multiple of 8);
// the header checksum is left to the caller (FillChecksum).
func (b IPv4) SetFlagsFragmentOffset(flags uint8, offset uint16) {
	binary.BigEndian.PutUint16(b[ipv4FlagsFO:], uint16(flags)<<13|offset>>3&0x1fff)
}

// More reports whether the more-fragments flag is set.
func (b IPv4) More() bool { return b[ipv4FlagsFO]&0x20 != 0 }

// DontFragment reports whether the don't-fragment flag is set.
func (b IPv4) DontFragment() bool { return b[ipv4FlagsFO]&0x40 != 0 }

// IsFragment reports whether the packet is a fragment: more-fragments set or a non-zero offset.
func (b IPv4) IsFragment() bool { return binary.BigEndian.Uint16(b[ipv4FlagsFO:])&0x3FFF != 0 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// SetTTL sets the time to live. It does not update the checksum.
func (b IPv4) SetTTL(ttl uint8) { b[ipv4TTL] = ttl }

// Protocol returns the protocol field.
func (b IPv4) Protocol() uint8 { return b[ipv4Protocol] }

// Checksum returns the header checksum field (the stored, complemented value).
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[ipv4Checksum:], v) }

// SourceAddress returns the source address: a 4-byte slice of the header, not a copy.
func (b IPv4) SourceAddress() []byte {
	return b[ipv4SrcAddr : ipv4SrcAddr+IPv4AddressSize : ipv4SrcAddr+IPv4AddressSize]
}

// DestinationAddress returns the destination address: a 4-byte slice of the header, not a copy.
func (b IPv4) DestinationAddress() []byte {
	return b[ipv4DstAddr : ipv4DstAddr+IPv4AddressSize : ipv4DstAddr+IPv4AddressSize]
}

// SetSourceAddress sets the source address (4 bytes). It does not update the checksum.
func (b IPv4) SetSourceAddress(a []byte) {
	copy(b[ipv4SrcAddr:ipv4SrcAddr+IPv4AddressSize], a[:IPv4AddressSize])
}

// SetDestinationAddress sets the destination address (4 bytes). It does not update the checksum.
func (b IPv4) SetDestinationAddress(a []byte) {
	copy(b[ipv4DstAddr:ipv4DstAddr+IPv4AddressSize], a[:IPv4AddressSize])
}

// Options returns the options: a slice of the header between byte 20 and HeaderLength.
func (b IPv4) Options() []byte { return b[IPv4MinimumSize:b.HeaderLength()] }

// Payload returns the bytes after the header up to TotalLength (or the end of b, if shorter).
func (b IPv4) Payload() []byte {
	end := min(int(b.TotalLength()), len(b))
	return b[min(b.HeaderLength(), end):end]
}

// CalculateChecksum returns the sum (not complemented) over the header, HeaderLength bytes, as it
// stands. With the checksum field zeroed, the value to store is its complement (see FillChecksum); with
// a correct checksum stored, it is 0xFFFF (see IsChecksumValid).
func (b IPv4) CalculateChecksum() uint16 { return Checksum(b[:b.HeaderLength()], 0) }

// FillChecksum computes the header checksum from scratch and stores it.
func (b IPv4) FillChecksum() {
	b.SetChecksum(0)
	b.SetChecksum(^b.CalculateChecksum())
}

// IsChecksumValid reports whether the stored header checksum is right.
func (b IPv4) IsChecksumValid() bool { return b.CalculateChecksum() == 0xFFFF }

// SetSourceAddressWithChecksumUpdate sets the source address (4 bytes) and updates the header checksum
// incrementally (RFC 1624). Transport checksums, which cover the address through the pseudo header, are
// not touched: update them first with the view's UpdateChecksumPseudoHeaderAddress(SourceAddress(), a).
func (b IPv4) SetSourceAddressWithChecksumUpdate(a []byte) {
	b.SetChecksum(ChecksumUpdateAddress(b.Checksum(), b[ipv4SrcAddr:ipv4SrcAddr+IPv4AddressSize], a[:IPv4AddressSize]))
	b.SetSourceAddress(a)
}

// SetDestinationAddressWithChecksumUpdate sets the destination address (4 bytes) and updates the header
// checksum incrementally, as SetSourceAddressWithChecksumUpdate.
func (b IPv4) SetDestinationAddressWithChecksumUpdate(a []byte) {
	b.SetChecksum(ChecksumUpdateAddress(b.Checksum(), b[ipv4DstAddr:ipv4DstAddr+IPv4AddressSize], a[:IPv4AddressSize]))
	b.SetDestinationAddress(a)
}

// SetTTLWithChecksumUpdate sets the time to live and updates the header checksum incrementally.
func (b IPv4) SetTTLWithChecksumUpdate(ttl uint8) {
	old := binary.BigEndian.Uint16(b[ipv4TTL:]) // TTL and protocol share a word
	b[ipv4TTL] = ttl
	b.SetChecksum(ChecksumUpdate16(b.Checksum(), old, binary.BigEndian.Uint16(b[ipv4TTL:])))
}

// DecTTLWithChecksumUpdate decrements the time to live, updates the header checksum incrementally and
// returns the new TTL. A TTL of 0 is left as it is (and 0 returned): the caller drops packets whose TTL
// it finds at 0 or 1 before forwarding.
func (b IPv4) DecTTLWithChecksumUpdate() uint8 {
	ttl := b[ipv4TTL]
	if ttl == 0 {
		return 0
	}
	// The word (TTL<<8 | protocol) drops by 0x0100: ~HC + ~m + m' = ~HC + 0xFEFF (RFC 1624 eqn. 3,
	// ~m + m' ≡ -0x0100).
	b[ipv4TTL] = ttl - 1
	b.SetChecksum(^ChecksumCombine(^b.Checksum(), 0xFEFF))
	return ttl - 1
}

// IsValid reports whether b holds a well-formed IPv4 header for a packet of pktLen bytes (the IP packet
// as received, which may include link-layer padding): version 4, IHL ≥ 5, and
// HeaderLength ≤ TotalLength ≤ min(pktLen, len(b)).
func (b IPv4) IsValid(pktLen int) bool {
	if len(b) < IPv4MinimumSize {
		return false
	}
	hlen := b.HeaderLength()
	tlen := int(b.TotalLength())
	return b.Version() == IPv4Version && hlen >= IPv4MinimumSize && hlen <= tlen && tlen <= pktLen && tlen <= len(b)
}
